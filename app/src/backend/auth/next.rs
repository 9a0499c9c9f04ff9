//! Where to go after signing in: only a path inside Muster.

use url::Url;

/// Where a sign-in goes when `next` is missing or not a path inside Muster.
pub const HOME: &str = "/contacts";

/// The path, query and fragment of `next` when a browser would resolve it
/// to a page of Muster itself; else [`HOME`].
///
/// Browsers drop tabs and newlines inside URLs and read `\` as `/`, so
/// `/\t/evil.example` and `/\evil.example` are `//evil.example`, another
/// site. Rather than list such tricks, `next` is resolved the way a browser
/// resolves it (WHATWG URL parsing, the `url` crate) against a base of our
/// own, and kept only if it stays on that base's origin. Any control
/// character or backslash, raw or percent-encoded, is refused outright, and
/// what is returned is the parser's serialisation, which is always a valid
/// header value.
pub fn local_path(next: &str) -> String {
    const BASE: &str = "http://muster.invalid/";
    let suspicious = |s: &str| s.chars().any(|c| c.is_control() || c == '\\');
    let decoded = urlencoding::decode(next).map(|d| d.into_owned());
    let refused =
        !next.starts_with('/') || suspicious(next) || decoded.as_deref().map_or(true, suspicious);
    if refused {
        return HOME.to_string();
    }
    let base = Url::parse(BASE).expect("a valid base");
    match base.join(next) {
        Ok(url) if url.origin() == base.origin() && url.path().starts_with('/') => {
            url[url::Position::BeforePath..].to_string()
        }
        _ => HOME.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn local_paths_are_kept() {
        assert_eq!(local_path("/contacts/3?x=1"), "/contacts/3?x=1");
        assert_eq!(local_path("/contacts?q=a%20b#top"), "/contacts?q=a%20b#top");
        assert_eq!(local_path("/imports"), "/imports");
    }

    #[test]
    fn anything_else_goes_home() {
        for next in [
            "",
            "contacts",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%09/evil.example",
            "/%0A/evil.example",
            "/%5Cevil.example",
            "/x%0D%0ASet-Cookie:%20a=b",
            "/x\r\nSet-Cookie: a=b",
            "https://evil.example",
            "http://muster.invalid/contacts",
            "javascript:alert(1)",
            "/%E0%A4%A",
            "\u{0}/contacts",
            "/contacts\u{7f}",
        ] {
            assert_eq!(local_path(next), HOME, "{next:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever is asked, the answer is a path of Muster's own that is a
        /// valid header value and resolves, in a browser's parser, to Muster.
        #[test]
        fn any_next_resolves_inside_muster(next in any::<String>()) {
            check(&local_path(&next));
        }

        #[test]
        fn any_path_like_next_resolves_inside_muster(next in "[/\\\\\t\n%0-9A-Fa-f.:@a-z?#]{0,24}") {
            check(&local_path(&next));
        }
    }

    fn check(path: &str) {
        assert!(path.starts_with('/') && !path.starts_with("//"), "{path:?}");
        assert!(http::HeaderValue::from_str(path).is_ok(), "{path:?}");
        let base = Url::parse("https://muster.example/").unwrap();
        let resolved = base.join(path).unwrap();
        assert_eq!(resolved.origin(), base.origin(), "{path:?}");
    }
}
