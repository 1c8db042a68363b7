//! What Shipgate knows about its forge, GitHub: how deliveries are signed and what their
//! payloads mean. Pure functions, no I/O.

pub mod github;
