//! LangChain content blocks as rig's user content: text, images, audio,
//! video and documents, in LangChain's standard form or OpenAI's.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rig_core::message::{
    Audio, AudioMediaType, Document, DocumentMediaType, DocumentSourceKind, Image, ImageDetail,
    ImageMediaType, MimeType, Text, UserContent, Video, VideoMediaType,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::message::json_text;

use super::fields::{Fields, rig_of, str_of};

/// A user message's content as rig's: text, media, and for anything rig
/// has no form for, its JSON as text.
pub(super) fn user_content(content: &Value) -> Vec<UserContent> {
    let blocks = match content {
        Value::String(text) => return vec![UserContent::Text(Text::new(text.as_str()))],
        Value::Array(blocks) => blocks,
        other => return vec![UserContent::Text(Text::new(json_text(other)))],
    };
    blocks
        .iter()
        .map(|block| {
            let Some(fields) = block.as_object() else {
                return UserContent::Text(Text::new(match block {
                    Value::String(text) => text.clone(),
                    other => json_text(other),
                }));
            };
            match str_of(fields, "type").unwrap_or_default() {
                "text" => decode_text(fields).map(UserContent::Text),
                "image" | "image_url" => decode_image(fields).map(UserContent::Image),
                "audio" | "input_audio" => decode_audio(fields).map(UserContent::Audio),
                "video" => decode_video(fields).map(UserContent::Video),
                "file" | "text-plain" => decode_document(fields).map(UserContent::Document),
                _ => None,
            }
            .unwrap_or_else(|| UserContent::Text(Text::new(json_text(block))))
        })
        .collect()
}

/// A text block, with what rig kept in `extras.rig`.
pub(super) fn decode_text(fields: &Fields) -> Option<Text> {
    let text = str_of(fields, "text")?;
    let mut rest = rig_of(fields, "extras");
    if rest.is_empty() {
        return Some(Text::new(text));
    }
    rest.insert("text".into(), text.into());
    serde_json::from_value(Value::Object(rest)).ok()
}

/// A media block's source: rig's own marks first, then LangChain's fields.
fn decode_source(fields: &Fields, rest: &Fields) -> DocumentSourceKind {
    let raw = str_of(rest, "source");
    if raw == Some("unknown") {
        return DocumentSourceKind::Unknown;
    }
    if let Some(text) = str_of(rest, "string") {
        return DocumentSourceKind::String(text.to_owned());
    }
    if let Some(data) = str_of(fields, "base64") {
        if raw == Some("raw")
            && let Ok(bytes) = BASE64.decode(data)
        {
            return DocumentSourceKind::Raw(bytes);
        }
        return DocumentSourceKind::Base64(data.to_owned());
    }
    if let Some(url) = str_of(fields, "url") {
        return DocumentSourceKind::Url(url.to_owned());
    }
    match str_of(fields, "file_id") {
        Some(id) => DocumentSourceKind::FileId(id.to_owned()),
        None => DocumentSourceKind::Unknown,
    }
}

/// The media type and data of a `data:<type>;base64,<data>` URL.
fn data_url(url: &str) -> Option<(&str, &str)> {
    let (head, data) = url.strip_prefix("data:")?.split_once(',')?;
    let mime = head.strip_suffix(";base64")?;
    Some((mime, data))
}

fn mime_of(fields: &Fields) -> Option<&str> {
    str_of(fields, "mime_type")
}

/// The provider's own item (`native`) rig kept in `extras.rig`.
pub(super) fn native_of<T: DeserializeOwned>(rest: &Fields) -> Option<T> {
    rest.get("native")
        .and_then(|n| serde_json::from_value(n.clone()).ok())
}

/// An image: LangChain's `image` block, or OpenAI's `image_url` (a `data:`
/// URL as base64).
pub(super) fn decode_image(fields: &Fields) -> Option<Image> {
    if let Some(inner) = fields.get("image_url") {
        let (url, detail) = match inner {
            Value::String(url) => (url.as_str(), None),
            Value::Object(inner) => (str_of(inner, "url")?, str_of(inner, "detail")),
            _ => return None,
        };
        let inline = data_url(url);
        return Some(Image {
            data: match inline {
                Some((_, data)) => DocumentSourceKind::Base64(data.to_owned()),
                None => DocumentSourceKind::Url(url.to_owned()),
            },
            media_type: inline.and_then(|(mime, _)| ImageMediaType::from_mime_type(mime)),
            detail: detail.and_then(|d| d.parse::<ImageDetail>().ok()),
            native: None,
        });
    }
    let rest = rig_of(fields, "extras");
    Some(Image {
        data: decode_source(fields, &rest),
        media_type: mime_of(fields).and_then(ImageMediaType::from_mime_type),
        detail: rest
            .get("detail")
            .and_then(|d| serde_json::from_value(d.clone()).ok()),
        native: native_of(&rest),
    })
}

/// Audio: LangChain's `audio` block, or OpenAI's `input_audio`.
fn decode_audio(fields: &Fields) -> Option<Audio> {
    if let Some(Value::Object(inner)) = fields.get("input_audio") {
        return Some(Audio {
            data: DocumentSourceKind::Base64(str_of(inner, "data")?.to_owned()),
            media_type: str_of(inner, "format")
                .and_then(|f| AudioMediaType::from_mime_type(&format!("audio/{f}"))),
        });
    }
    let rest = rig_of(fields, "extras");
    Some(Audio {
        data: decode_source(fields, &rest),
        media_type: mime_of(fields).and_then(AudioMediaType::from_mime_type),
    })
}

fn decode_video(fields: &Fields) -> Option<Video> {
    let rest = rig_of(fields, "extras");
    Some(Video {
        data: decode_source(fields, &rest),
        media_type: mime_of(fields).and_then(VideoMediaType::from_mime_type),
        additional_params: rest.get("additional_params").cloned(),
    })
}

/// A document: a `text-plain` block is its text, a `file` block its source.
fn decode_document(fields: &Fields) -> Option<Document> {
    let rest = rig_of(fields, "extras");
    let data = match (str_of(fields, "type"), str_of(fields, "text")) {
        (Some("text-plain"), Some(text)) => DocumentSourceKind::String(text.to_owned()),
        _ => decode_source(fields, &rest),
    };
    Some(Document {
        data,
        media_type: mime_of(fields).and_then(DocumentMediaType::from_mime_type),
        additional_params: rest.get("additional_params").cloned(),
    })
}
