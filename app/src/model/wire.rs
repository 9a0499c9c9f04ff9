//! How server functions' arguments, answers and errors travel, and how a page's
//! data reaches the browser inside the HTML: as JSON, which curl, the tests and
//! any other client read. In the browser that JSON is parsed by the browser's
//! own `JSON.parse` and turned into Rust values by `serde-wasm-bindgen`, so the
//! WebAssembly carries no JSON parser or printer of its own: serde_json and the
//! float parsing it brings were 15 KB gzipped of the Contacts page's first load
//! (server/README, "First load of the browser code").

use leptos::server_fn::codec::Post;
use leptos::server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType};
use serde::{de::DeserializeOwned, Serialize};

/// JSON in the body of a `POST`: every server function's `output`, and the
/// `input` of those whose arguments do not fit a form (`PostUrl`, the default,
/// is kept wherever a form can post without JavaScript).
pub type BrowserJson = Post<BrowserJsonEncoding>;

/// The encoding behind [`BrowserJson`], and the error type's.
pub struct BrowserJsonEncoding;

impl ContentType for BrowserJsonEncoding {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for BrowserJsonEncoding {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for BrowserJsonEncoding {
    type Error = String;

    fn encode(value: &T) -> Result<Bytes, String> {
        to_json(value).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for BrowserJsonEncoding {
    type Error = String;

    fn decode(bytes: Bytes) -> Result<T, String> {
        let text = std::str::from_utf8(&bytes).map_err(|e| e.to_string())?;
        from_json(text)
    }
}

/// A value as JSON text.
pub fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    #[cfg(target_arch = "wasm32")]
    {
        // Maps as objects and 64-bit integers as numbers, as serde_json writes them.
        let serializer = serde_wasm_bindgen::Serializer::json_compatible();
        let value = value.serialize(&serializer).map_err(|e| e.to_string())?;
        js_sys::JSON::stringify(&value)
            .map(String::from)
            .map_err(|e| format!("{e:?}"))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        serde_json::to_string(value).map_err(|e| e.to_string())
    }
}

/// A value read from JSON text.
pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    #[cfg(target_arch = "wasm32")]
    {
        let value = js_sys::JSON::parse(text).map_err(|_| "the answer is not JSON".to_string())?;
        serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AppError, FieldError};
    use std::path::Path;

    /// The Rust files under `dir`, with their text.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }

    /// One server function or resource left on serde_json would bring its
    /// parser back into the browser's code (into the first load if it is the
    /// Contacts page's).
    #[test]
    fn every_server_function_and_resource_reads_json_in_the_browser() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src.join("api"), &mut files);
        sources(&src.join("ui"), &mut files);
        let mut functions = 0;
        for (path, text) in &files {
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("#[server("))
            {
                functions += 1;
                assert!(line.contains("output = BrowserJson"), "{path}: {line}");
                assert!(!line.contains("input = Json"), "{path}: {line}");
            }
            for (n, line) in text.lines().enumerate() {
                let bare = line.replace("LocalResource::new(", "");
                assert!(!bare.contains("Resource::new("), "{path}:{}: {line}", n + 1);
                assert!(!line.contains("serde_json"), "{path}:{}: {line}", n + 1);
            }
        }
        assert!(functions > 60, "{functions} server functions found");
    }

    #[test]
    fn what_is_encoded_is_json_and_decodes_to_the_same_value() {
        let error = AppError::Invalid(vec![FieldError {
            field: "email".into(),
            message: "Enter an e-mail address.".into(),
        }]);
        let bytes = <BrowserJsonEncoding as Encodes<AppError>>::encode(&error).unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"Invalid":[{"field":"email","message":"Enter an e-mail address."}]}"#
        );
        let back: AppError = BrowserJsonEncoding::decode(bytes).unwrap();
        assert_eq!(back, error);
        let bad = <BrowserJsonEncoding as Decodes<AppError>>::decode(Bytes::from_static(b"{"));
        assert!(bad.is_err());
    }
}
