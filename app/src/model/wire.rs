//! How server functions' arguments, answers and errors travel, and how a page's
//! data reaches the browser inside the HTML: as JSON, which curl, the tests and
//! any other client read. In the browser that JSON is parsed by the browser's
//! own `JSON.parse` and turned into Rust values by `serde-wasm-bindgen`, so the
//! WebAssembly carries no JSON parser or printer of its own: serde_json and the
//! float parsing it brings were about 10% of the Contacts page's first load
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
