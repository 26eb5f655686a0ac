//! A user agent shortened to what a person recognises in a list of their
//! sessions: "Firefox on Linux". Only a label: nothing decides anything by it,
//! and the whole agent stays beside it. A full user-agent database (uap-core's
//! regexes) would name more devices, at the cost of a large dependency for one
//! column of one page.

/// Browser families, most specific first: Edge and Opera also say "Chrome",
/// Chrome also says "Safari".
const BROWSERS: [(&str, &str); 9] = [
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("HeadlessChrome/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-requests/", "Python requests"),
];

/// Systems, most specific first: Android also says "Linux", iOS "Mac OS X".
const SYSTEMS: [(&str, &str); 7] = [
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
];

/// "Firefox on Linux", "Safari on iOS", "Chrome", or "Unknown device".
pub fn describe(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|agent| !agent.trim().is_empty()) else {
        return "Unknown device".to_owned();
    };
    let find = |table: &[(&str, &'static str)]| {
        table
            .iter()
            .find(|(marker, _)| agent.contains(marker))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown device".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn names_common_browsers_and_systems() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
                "Chrome on macOS",
            ),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
            ("something else entirely", "Unknown device"),
        ];
        for (agent, expected) in cases {
            assert_eq!(describe(Some(agent)), expected, "{agent}");
        }
        assert_eq!(describe(None), "Unknown device");
    }
}
