//! Live updates: a page subscribes to a server-sent event stream (`/events/…`) and fetches
//! its data again whenever the server says it changed. Only in the browser; a page
//! rendered without JavaScript shows what was true when it was served.

#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// Calls `changed` each time the stream at `url` reports a change. The stream's address
/// carries what the page was drawn from (`?seen=<fingerprint>`), so a change made between
/// the server's render and this subscription is reported at once rather than lost. While
/// someone is typing into a field of the page, the update waits a little, so a refresh does
/// not wipe a half-written comment.
pub fn on_server_change(url: String, changed: impl Fn() + Clone + Send + Sync + 'static) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let changed = changed.clone();
        let listener =
            Closure::<dyn FnMut(web_sys::Event)>::new(move |_| apply_when_idle(changed.clone()));
        let _ =
            source.add_event_listener_with_callback("changed", listener.as_ref().unchecked_ref());
        let held = send_wrapper::SendWrapper::new((source, listener));
        on_cleanup(move || held.0.close());
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, changed);
}

#[cfg(feature = "hydrate")]
fn apply_when_idle(changed: impl Fn() + Clone + Send + Sync + 'static) {
    use wasm_bindgen::JsCast;
    let typing = document().active_element().is_some_and(|e| {
        e.dyn_ref::<web_sys::HtmlTextAreaElement>()
            .is_some_and(|t| !t.value().is_empty())
            || e.dyn_ref::<web_sys::HtmlInputElement>()
                .is_some_and(|i| i.type_() == "text" && !i.value().is_empty())
    });
    if typing {
        set_timeout(
            move || apply_when_idle(changed),
            std::time::Duration::from_secs(2),
        );
    } else {
        changed();
    }
}
