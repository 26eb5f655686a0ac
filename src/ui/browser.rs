//! The few things islands ask of the browser itself. Without a client-side
//! router, a change that alters what the server renders ends in a page load.

/// Loads the page again, so the server renders the change just made.
pub fn reload_page() {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

/// Opens `location` (a path on this site) as a full page load.
pub fn go_to(location: &str) {
    #[cfg(feature = "hydrate")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(location);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = location;
}
