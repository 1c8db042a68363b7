//! Hydrates the islands of Shipgate's server-rendered pages in the browser.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    shipgate_app::hydrate();
}
