//! The `rig` feature: rig's messages as LangChain rows and back (every
//! content kind, fixed cases and generated ones), what Python's
//! langchain_core makes of the rows (tests/fixtures/rig_python.json, by
//! tests/fixtures/gen/check_rig.py), and the memory on the database:
//! exactly once through a lost reply, turns contiguous under concurrent
//! appends, windows that never cut a call from its result.

mod support;

use std::sync::Arc;

use langchain_cockroachdb::nonblocking::AsyncCockroachDBEngine;
use langchain_cockroachdb::rig::rig_core;
use langchain_cockroachdb::rig::{
    CockroachDBConversationMemory, Window, from_rig_messages, to_rig_messages,
};
use langchain_cockroachdb::{Error, Message, MessageType, TrimOptions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use rig_core::memory::{ConversationMemory, MemoryError};
use rig_core::message::{
    AssistantContent, AssistantMessage, Audio, AudioMediaType, CallId, Citation, Document,
    DocumentMediaType, DocumentSourceKind, Image, ImageDetail, ImageMediaType,
    Message as RigMessage, Opaque, Origin, ProviderCallId, Reasoning, Source, SourceLocation,
    StopReason, Text, ToolCall, ToolFunction, ToolName, ToolResult, ToolResultContent, UserContent,
    Video, VideoMediaType,
};
use serde_json::{Value, json};
use support::proxy::Proxy;
use support::{TempTable, database_url};

// ------------------------------------------------------------------ cases

fn name(text: &str) -> ToolName {
    ToolName::new(text).expect("a tool name")
}

fn provider_id(id: &str) -> CallId {
    CallId::Provider(ProviderCallId::new(id).expect("a call id"))
}

fn call(id: CallId, tool: &str, args: Value) -> ToolCall {
    let Value::Object(arguments) = args else {
        panic!("arguments are an object")
    };
    ToolCall::new(
        id,
        ToolFunction {
            name: name(tool),
            arguments,
            invalid_arguments: None,
        },
    )
}

fn result(call: &ToolCall, content: Vec<ToolResultContent>) -> UserContent {
    UserContent::ToolResult(call.result(content))
}

fn user(content: Vec<UserContent>) -> RigMessage {
    RigMessage::User { content }
}

fn assistant(content: Vec<AssistantContent>) -> RigMessage {
    RigMessage::Assistant(AssistantMessage::new(content))
}

fn text(t: &str) -> Text {
    Text::new(t)
}

fn image(data: DocumentSourceKind) -> Image {
    Image {
        data,
        media_type: Some(ImageMediaType::PNG),
        detail: Some(ImageDetail::High),
        native: None,
    }
}

/// Conversations over every content kind: each a valid conversation for
/// LangChain too (every tool result answers an earlier call).
fn cases() -> Vec<(&'static str, Vec<RigMessage>)> {
    let weather = call(
        provider_id("call_1"),
        "get_weather",
        json!({"city": "Zürich", "days": [1, 2]}),
    );
    let time = call(provider_id("call_2"), "get_time", json!({}));
    // A fixed id rig issued, so that the committed rows stay the same.
    let issued = serde_json::from_value(json!("6f1c2a9e-0000-4000-8000-000000000001")).unwrap();
    let local = call(CallId::Local(issued), "lookup", json!({"q": "x"}));
    let mut invalid = call(provider_id("call_bad"), "search", json!({"q": "ab"}));
    invalid.function.invalid_arguments = Some(r#"{"q": "ab"#.into());
    let signed = AssistantContent::Reasoning(Reasoning::new("Let me think.")).with_native(
        json!({"type": "thinking", "thinking": "Let me think.", "signature": "sig=="}),
    );
    let origin = Origin {
        response_model: Some("gpt-4o-2024-08-06".into()),
        response_id: Some("chatcmpl-123".into()),
        ..Origin::new("openai.chat", "openai", "gpt-4o")
    };
    let cited = text("Paris is the capital.").with_citations([Citation::new([Source::new(
        SourceLocation::Url {
            url: "https://example.com/paris".into(),
        },
    )
    .title("Paris")
    .confidence(0.9)])]);
    vec![
        (
            "system",
            vec![RigMessage::system("Be brief."), RigMessage::user("hi")],
        ),
        (
            "text_turn",
            vec![
                RigMessage::user("My name is Alice."),
                RigMessage::assistant("Hello, Alice!"),
            ],
        ),
        (
            "empty_user_and_assistant",
            vec![user(vec![]), assistant(vec![])],
        ),
        (
            "empty_texts",
            vec![
                RigMessage::user(""),
                assistant(vec![AssistantContent::Text(text(""))]),
            ],
        ),
        (
            "user_media",
            vec![user(vec![
                UserContent::Text(text("What is in these?")),
                UserContent::Image(image(DocumentSourceKind::url("https://example.com/a.png"))),
                UserContent::Image(image(DocumentSourceKind::base64("iVBORw0KGgo="))),
                UserContent::Image(image(DocumentSourceKind::Raw(vec![0, 1, 2, 255]))),
                UserContent::Audio(Audio {
                    data: DocumentSourceKind::base64("UklGRg=="),
                    media_type: Some(AudioMediaType::WAV),
                }),
                UserContent::Document(Document {
                    data: DocumentSourceKind::base64("JVBERi0="),
                    media_type: Some(DocumentMediaType::PDF),
                    additional_params: None,
                }),
            ])],
        ),
        // Kinds OpenAI's chat completions cannot take (LangChain says so when
        // converting): they are stored and read back all the same.
        (
            "user_media_beyond_openai",
            vec![user(vec![
                UserContent::Image(Image {
                    detail: None,
                    media_type: None,
                    ..image(DocumentSourceKind::file_id("file-1"))
                }),
                UserContent::Image(image(DocumentSourceKind::Unknown)),
                UserContent::Image(image(DocumentSourceKind::string("not an image"))),
                UserContent::Audio(Audio {
                    data: DocumentSourceKind::url("https://example.com/a.mp3"),
                    media_type: None,
                }),
                UserContent::Video(Video {
                    data: DocumentSourceKind::url("https://example.com/v.mp4"),
                    media_type: Some(VideoMediaType::MP4),
                    additional_params: Some(json!({"fps": 2})),
                }),
                UserContent::Document(Document {
                    data: DocumentSourceKind::string("# Notes\nplain text"),
                    media_type: Some(DocumentMediaType::MARKDOWN),
                    additional_params: Some(json!({"title": "notes"})),
                }),
                UserContent::Document(Document {
                    data: DocumentSourceKind::string("a"),
                    media_type: None,
                    additional_params: None,
                }),
            ])],
        ),
        (
            "tool_round",
            vec![
                RigMessage::user("Weather and time in Zürich?"),
                assistant(vec![
                    AssistantContent::Text(text("Let me check.")),
                    AssistantContent::ToolCall(weather.clone()),
                    AssistantContent::ToolCall(time.clone()),
                ]),
                user(vec![
                    result(&weather, vec![ToolResultContent::text("21 degrees")]),
                    result(
                        &time,
                        vec![ToolResultContent::Json {
                            value: json!({"hour": 14, "tz": "CET", "ok": true, "f": 0.5}),
                        }],
                    ),
                ]),
                RigMessage::assistant("21 degrees, 14:00."),
            ],
        ),
        (
            "tool_calls_only_and_errors",
            vec![
                assistant(vec![AssistantContent::ToolCall(weather.clone())]),
                user(vec![UserContent::ToolResult(weather.error_result(vec![
                    ToolResultContent::text("no such city"),
                ]))]),
                assistant(vec![AssistantContent::ToolCall(time.clone())]),
                user(vec![result(&time, vec![])]),
                user(vec![UserContent::Text(text("and now?"))]),
            ],
        ),
        (
            "results_one_per_message_and_mixed",
            vec![
                assistant(vec![
                    AssistantContent::ToolCall(weather.clone()),
                    AssistantContent::ToolCall(time.clone()),
                ]),
                user(vec![result(
                    &weather,
                    vec![ToolResultContent::text("sunny")],
                )]),
                user(vec![result(
                    &time,
                    vec![
                        ToolResultContent::text("14:00"),
                        ToolResultContent::Image(image(DocumentSourceKind::base64("AAAA"))),
                    ],
                )]),
                assistant(vec![AssistantContent::ToolCall(weather.clone())]),
                user(vec![
                    UserContent::Text(text("before")),
                    result(&weather, vec![ToolResultContent::text("again")]),
                    UserContent::Text(text("after")),
                ]),
            ],
        ),
        (
            "local_and_invalid_calls",
            vec![
                assistant(vec![
                    AssistantContent::ToolCall(local.clone()),
                    AssistantContent::ToolCall(invalid.clone()),
                ]),
                user(vec![
                    result(&local, vec![ToolResultContent::text("found")]),
                    result(&invalid, vec![ToolResultContent::text("bad arguments")]),
                ]),
            ],
        ),
        (
            "reasoning_and_provider_items",
            vec![
                RigMessage::user("Why?"),
                RigMessage::Assistant(
                    AssistantMessage::new(vec![
                        signed,
                        AssistantContent::Reasoning(Reasoning {
                            redacted: true,
                            ..Reasoning::default()
                        }),
                        AssistantContent::Text(cited),
                        AssistantContent::Text(text("Because."))
                            .with_native(json!({"type": "output_text", "text": "Because."})),
                        AssistantContent::ToolCall(weather.clone())
                            .with_native(json!({"type": "function_call", "call_id": "call_1"})),
                        AssistantContent::Image(image(DocumentSourceKind::base64("R0lGOD")))
                            .with_native(json!({"type": "image"})),
                        AssistantContent::Opaque(Opaque {
                            item: json!({"type": "web_search_call", "id": "ws_1"}),
                            replay: true,
                        }),
                        AssistantContent::Opaque(Opaque {
                            item: json!({"type": "compaction"}),
                            replay: false,
                        }),
                    ])
                    .with_origin(origin.clone())
                    .with_stop(StopReason::ToolUse),
                ),
                user(vec![result(
                    &weather,
                    vec![ToolResultContent::text("sunny")],
                )]),
                RigMessage::Assistant(
                    AssistantMessage::new(vec![AssistantContent::Text(text("Sunny."))])
                        .with_origin(Origin::new(
                            "anthropic.messages",
                            "anthropic",
                            "claude-sonnet-4",
                        ))
                        .with_stop(StopReason::Stop),
                ),
                RigMessage::Assistant(AssistantMessage::aborted(None, vec![], "cut off")),
                RigMessage::Assistant(
                    AssistantMessage::new(vec![]).with_stop(StopReason::Error("overloaded".into())),
                ),
                RigMessage::Assistant(AssistantMessage::new(vec![]).with_stop(StopReason::Length)),
            ],
        ),
    ]
}

// ------------------------------------------------------------- generated

fn short() -> impl Strategy<Value = String> {
    // No U+0000: JSONB cannot store it, and the crate refuses it.
    "[a-zA-Z0-9 é€😀\\n\"\\\\]{0,12}"
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1.0e6f64..1.0e6).prop_map(Value::from),
        short().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(short(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn object() -> impl Strategy<Value = serde_json::Map<String, Value>> {
    prop::collection::btree_map(short(), json_value(), 0..3).prop_map(|m| m.into_iter().collect())
}

fn source() -> impl Strategy<Value = DocumentSourceKind> {
    prop_oneof![
        short().prop_map(DocumentSourceKind::Url),
        short().prop_map(DocumentSourceKind::Base64),
        short().prop_map(DocumentSourceKind::FileId),
        prop::collection::vec(any::<u8>(), 0..8).prop_map(DocumentSourceKind::Raw),
        short().prop_map(DocumentSourceKind::String),
        Just(DocumentSourceKind::Unknown),
    ]
}

fn gen_text() -> impl Strategy<Value = Text> {
    (short(), prop::option::of(json_value())).prop_map(|(t, item)| match item {
        Some(item) => match AssistantContent::Text(Text::new(t)).with_native(item) {
            AssistantContent::Text(text) => text,
            _ => unreachable!(),
        },
        None => Text::new(t),
    })
}

fn gen_image() -> impl Strategy<Value = Image> {
    let media = prop::option::of(prop::sample::select(vec![
        ImageMediaType::JPEG,
        ImageMediaType::PNG,
        ImageMediaType::GIF,
        ImageMediaType::WEBP,
        ImageMediaType::HEIC,
        ImageMediaType::HEIF,
        ImageMediaType::SVG,
    ]));
    let detail = prop::option::of(prop::sample::select(vec![
        ImageDetail::Low,
        ImageDetail::High,
        ImageDetail::Auto,
    ]));
    (source(), media, detail).prop_map(|(data, media_type, detail)| Image {
        data,
        media_type,
        detail,
        native: None,
    })
}

fn gen_user_item() -> impl Strategy<Value = UserContent> {
    let audio = prop::option::of(prop::sample::select(vec![
        AudioMediaType::WAV,
        AudioMediaType::MP3,
        AudioMediaType::AIFF,
        AudioMediaType::AAC,
        AudioMediaType::OGG,
        AudioMediaType::FLAC,
        AudioMediaType::M4A,
        AudioMediaType::PCM16,
        AudioMediaType::PCM24,
    ]));
    let video = prop::option::of(prop::sample::select(vec![
        VideoMediaType::AVI,
        VideoMediaType::MP4,
        VideoMediaType::MPEG,
        VideoMediaType::MOV,
        VideoMediaType::WEBM,
    ]));
    let document = prop::option::of(prop::sample::select(vec![
        DocumentMediaType::PDF,
        DocumentMediaType::TXT,
        DocumentMediaType::RTF,
        DocumentMediaType::HTML,
        DocumentMediaType::CSS,
        DocumentMediaType::MARKDOWN,
        DocumentMediaType::CSV,
        DocumentMediaType::XML,
        DocumentMediaType::Javascript,
        DocumentMediaType::Python,
    ]));
    let result_item = prop_oneof![
        short().prop_map(ToolResultContent::text),
        gen_image().prop_map(ToolResultContent::Image),
        json_value().prop_map(|value| ToolResultContent::Json { value }),
    ];
    prop_oneof![
        short().prop_map(|t| UserContent::Text(Text::new(t))),
        gen_image().prop_map(UserContent::Image),
        (source(), audio)
            .prop_map(|(data, media_type)| UserContent::Audio(Audio { data, media_type })),
        (source(), video, prop::option::of(json_value())).prop_map(
            |(data, media_type, additional_params)| UserContent::Video(Video {
                data,
                media_type,
                additional_params
            })
        ),
        (source(), document, prop::option::of(json_value())).prop_map(
            |(data, media_type, additional_params)| UserContent::Document(Document {
                data,
                media_type,
                additional_params
            })
        ),
        (
            gen_call_id(),
            "[a-z_]{1,8}",
            prop::collection::vec(result_item, 0..3),
            any::<bool>()
        )
            .prop_map(|(call, tool, content, is_error)| UserContent::ToolResult(
                ToolResult {
                    call,
                    name: name(&tool),
                    content,
                    is_error
                }
            )),
    ]
}

fn gen_call_id() -> impl Strategy<Value = CallId> {
    prop_oneof![
        "[a-zA-Z0-9_]{1,10}".prop_map(|id| provider_id(&id)),
        Just(()).prop_map(|()| CallId::Local(Default::default())),
    ]
}

fn gen_assistant_item() -> impl Strategy<Value = AssistantContent> {
    let call = (
        gen_call_id(),
        "[a-z_]{1,8}",
        object(),
        prop::option::of(short()),
        prop::option::of(json_value()),
    )
        .prop_map(|(id, tool, arguments, invalid_arguments, item)| {
            let block = AssistantContent::ToolCall(ToolCall::new(
                id,
                ToolFunction {
                    name: name(&tool),
                    arguments,
                    invalid_arguments,
                },
            ));
            match item {
                Some(item) => block.with_native(item),
                None => block,
            }
        });
    let reasoning =
        (short(), any::<bool>(), prop::option::of(json_value())).prop_map(|(t, redacted, item)| {
            let block = AssistantContent::Reasoning(Reasoning {
                text: t,
                redacted,
                native: None,
            });
            match item {
                Some(item) => block.with_native(item),
                None => block,
            }
        });
    prop_oneof![
        gen_text().prop_map(AssistantContent::Text),
        call,
        reasoning,
        gen_image().prop_map(AssistantContent::Image),
        (json_value(), any::<bool>())
            .prop_map(|(item, replay)| AssistantContent::Opaque(Opaque { item, replay })),
    ]
}

fn gen_message() -> impl Strategy<Value = RigMessage> {
    let origin = prop::option::of((
        short(),
        short(),
        short(),
        prop::option::of(short()),
        prop::option::of("[a-z0-9-]{1,10}"),
    ))
    .prop_map(|o| {
        o.map(
            |(api, provider, model, response_model, response_id)| Origin {
                response_model,
                response_id,
                ..Origin::new(api, provider, model)
            },
        )
    });
    let stop = prop::option::of(prop_oneof![
        Just(StopReason::Stop),
        Just(StopReason::Length),
        Just(StopReason::ToolUse),
        short().prop_map(StopReason::Error),
        short().prop_map(StopReason::Aborted),
    ]);
    prop_oneof![
        short().prop_map(RigMessage::system),
        prop::collection::vec(gen_user_item(), 0..5)
            .prop_map(|content| RigMessage::User { content }),
        (
            prop::collection::vec(gen_assistant_item(), 0..5),
            origin,
            stop
        )
            .prop_map(|(content, origin, stop)| {
                RigMessage::Assistant(
                    AssistantMessage::new(content)
                        .with_origin(origin)
                        .with_stop(stop),
                )
            }),
    ]
}

/// rig → rows → JSON text (as the table holds them) → rows → rig.
fn through_rows(messages: &[RigMessage]) -> Vec<RigMessage> {
    let rows = from_rig_messages(messages).expect("rig messages map to rows");
    let stored: Vec<Message> = rows
        .iter()
        .map(|row| Message::from_json(row.to_json().as_bytes()).expect("a row reads back"))
        .collect();
    to_rig_messages(&stored).expect("rows map back to rig")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_generated_conversation_round_trips(messages in prop::collection::vec(gen_message(), 0..6)) {
        prop_assert_eq!(through_rows(&messages), messages);
    }
}

#[test]
fn every_fixed_case_round_trips() {
    for (name, messages) in cases() {
        assert_eq!(through_rows(&messages), messages, "{name}");
    }
}

#[test]
fn rows_are_langchain_shaped() {
    let cases = cases();
    let (_, tools) = cases.iter().find(|(n, _)| *n == "tool_round").unwrap();
    let rows = from_rig_messages(tools).unwrap();
    let types: Vec<_> = rows.iter().map(|r| r.message_type()).collect();
    use MessageType::*;
    assert_eq!(types, [Human, Ai, Tool, Tool, Ai]);
    // A plain reply with calls is a string beside `tool_calls`, as
    // LangChain's own replies are.
    assert_eq!(rows[1].content(), &json!("Let me check."));
    assert_eq!(rows[1].tool_calls()[1]["id"], "call_2");
    assert_eq!(rows[2].tool_call_id(), Some("call_1"));
    assert_eq!(rows[2].name(), Some("get_weather"));
    // The first tool result opens a rig message, the second joins it.
    assert_eq!(rows[2].additional_kwargs()["rig"]["part"], "first");
    assert!(rows[3].additional_kwargs().is_empty());
    assert_eq!(rows[3].content()[0]["extras"]["rig"]["json"], true);
    // Plain text rows carry nothing of rig's.
    assert!(rows[0].additional_kwargs().is_empty() && rows[4].additional_kwargs().is_empty());

    let (_, reasoning) = cases
        .iter()
        .find(|(n, _)| *n == "reasoning_and_provider_items")
        .unwrap();
    let rows = from_rig_messages(reasoning).unwrap();
    let ai = &rows[1];
    assert_eq!(ai.id(), Some("chatcmpl-123"));
    assert_eq!(ai.response_metadata()["model_provider"], "openai");
    assert_eq!(ai.response_metadata()["model_name"], "gpt-4o");
    assert_eq!(ai.additional_kwargs()["rig"]["stop"], "tool_use");
    let kinds: Vec<_> = ai
        .content()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "reasoning",
            "reasoning",
            "text",
            "text",
            "tool_call",
            "image",
            "non_standard",
            "non_standard"
        ]
    );
    assert_eq!(ai.content()[0]["reasoning"], "Let me think.");
    assert_eq!(
        ai.content()[0]["extras"]["rig"]["native"]["item"]["signature"],
        "sig=="
    );
}

/// What Python's langchain_core reads the rows as. Regenerate after a
/// mapping change: `bash tests/fixtures/gen/run.sh`.
mod python {
    use super::*;

    const ROWS: &str = "tests/fixtures/rig_rows.json";
    const CHECKED: &str = "tests/fixtures/rig_python.json";

    fn current_rows() -> Value {
        let cases: Vec<Value> = cases()
            .into_iter()
            .map(|(name, messages)| {
                let rows: Vec<Value> = from_rig_messages(&messages)
                    .unwrap()
                    .iter()
                    .map(Message::to_dict)
                    .collect();
                json!({"name": name, "rows": rows})
            })
            .collect();
        json!({"cases": cases})
    }

    fn read(path: &str) -> Value {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap()
    }

    /// Where `written` (the rows this build writes) and `committed` (rows
    /// read from a fixture) first differ, as a JSON path; `None` if they
    /// are the same. Numbers compare as written, with one exception: rig
    /// keeps some numbers as `f32`, which serde_json writes widened to
    /// `f64` (`0.8999999761581421`, as the fixtures have them) by default,
    /// and as the f32's own shortest decimal (`0.9`) under
    /// `arbitrary_precision` (the feature `exact-json`). There, an f32 so
    /// written is the same as the committed widened one; in a build that
    /// widens, nothing is forgiven.
    fn difference(written: &Value, committed: &Value, path: &str) -> Option<String> {
        match (written, committed) {
            (Value::Number(w), Value::Number(c)) => {
                let same = w.to_string() == c.to_string()
                    || (support::corpus::numbers_as_written()
                        && same_f32(&w.to_string(), &c.to_string()));
                (!same).then(|| format!("{path}: {w} written, {c} committed"))
            }
            (Value::Array(w), Value::Array(c)) if w.len() == c.len() => w
                .iter()
                .zip(c)
                .enumerate()
                .find_map(|(i, (w, c))| difference(w, c, &format!("{path}[{i}]"))),
            (Value::Object(w), Value::Object(c)) if w.len() == c.len() => {
                w.iter().find_map(|(key, w)| match c.get(key) {
                    Some(c) => difference(w, c, &format!("{path}.{key}")),
                    None => Some(format!("{path}.{key}: written, not committed")),
                })
            }
            _ => (written != committed)
                .then(|| format!("{path}: {written} written, {committed} committed")),
        }
    }

    /// Whether `written` is the shortest decimal of an f32 that
    /// `committed` is exactly, widened to f64 (both floats: an integer is
    /// never the same as a float).
    fn same_f32(written: &str, committed: &str) -> bool {
        let float = |text: &str| text.contains(['.', 'e', 'E']);
        if !float(written) || !float(committed) {
            return false;
        }
        let (Ok(written), Ok(committed)) = (written.parse::<f64>(), committed.parse::<f64>())
        else {
            return false;
        };
        let narrow = committed as f32;
        f64::from(narrow) == committed
            && narrow.is_finite()
            && narrow.to_string().parse::<f64>() == Ok(written)
    }

    /// The committed rows are what the mapping writes now (with
    /// `LANGCHAIN_COCKROACHDB_WRITE_FIXTURES=1`, this writes them).
    #[test]
    fn the_rows_python_checked_are_the_rows_written_now() {
        let rows = current_rows();
        if std::env::var_os("LANGCHAIN_COCKROACHDB_WRITE_FIXTURES").is_some() {
            std::fs::write(ROWS, serde_json::to_string_pretty(&rows).unwrap() + "\n").unwrap();
            return;
        }
        if let Some(at) = difference(&rows, &read(ROWS), "rows") {
            panic!("{ROWS} is stale ({at}): bash tests/fixtures/gen/run.sh");
        }
        if let Some(at) = difference(&rows, &read(CHECKED)["rows"], "rows") {
            panic!("{CHECKED} checked other rows ({at}): bash tests/fixtures/gen/run.sh");
        }
    }

    /// The comparison above forgives only an f32 written two ways, and only
    /// in a build whose serde_json writes it the second way.
    #[test]
    fn rows_compare_numbers_as_written_but_for_an_f32_s_two_forms() {
        // 0.9f32 as the fixtures hold it, and as this build writes it.
        let widened: Value = serde_json::from_str("0.8999999761581421").unwrap();
        let written = json!(0.9f32);
        assert!(difference(&written, &widened, "").is_none());
        let shortest: Value = serde_json::from_str("0.9").unwrap();
        assert_eq!(
            difference(&shortest, &widened, "").is_none(),
            support::corpus::numbers_as_written()
        );
        // Not an f32 written two ways: never the same.
        assert!(same_f32("0.9", "0.8999999761581421"));
        assert!(!same_f32("0.9", "0.9000000000000001"));
        assert!(!same_f32("0.8999999761581421", "0.9"));
        assert!(!same_f32("0.90000004", "0.8999999761581421"));
        assert!(difference(&json!([1, 2]), &json!([1, 2.0]), "").is_some());
        assert!(difference(&json!({"a": 1}), &json!({"b": 1}), "").is_some());
        assert!(difference(&json!(["x"]), &json!(["y"]), "").is_some());
    }

    #[test]
    fn langchain_core_reads_every_row_and_pairs_every_result() {
        let checked = read(CHECKED);
        assert_eq!(checked["langchain_core"], "1.8.3");
        let cases = checked["results"].as_array().unwrap();
        assert_eq!(cases.len(), super::cases().len());
        for (case, (name, messages)) in cases.iter().zip(super::cases()) {
            assert_eq!(case["name"], name);
            assert_eq!(
                case["error"],
                Value::Null,
                "{name}: Python refused the rows"
            );
            assert_eq!(case["preserved"], true, "{name}: Python changed the rows");
            assert_eq!(
                case["unanswered_results"],
                json!([]),
                "{name}: a tool message answers no call"
            );
            let beyond_openai = name == "user_media_beyond_openai";
            assert_eq!(
                case["openai_error"].is_null(),
                !beyond_openai,
                "{name}: {}",
                case["openai_error"]
            );
            let rows = from_rig_messages(&messages).unwrap();
            let types: Vec<_> = rows.iter().map(|r| r.message_type().as_str()).collect();
            assert_eq!(case["types"], json!(types), "{name}");
            let texts: Vec<_> = rows.iter().map(|r| r.text().into_owned()).collect();
            assert_eq!(
                case["texts"],
                json!(texts),
                "{name}: Python reads other text"
            );
        }
    }

    /// A conversation LangChain wrote (tool calls, nameless tool messages,
    /// OpenAI-style images, Anthropic-style thinking) loads as rig messages
    /// an agent can send on: every result answers an earlier call, by id
    /// and name.
    #[test]
    fn a_langchain_session_loads_as_rig_messages() {
        let checked = read(CHECKED);
        let rows: Vec<Message> = checked["langchain_session"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| Message::from_dict(d.clone()).unwrap())
            .collect();
        let messages = to_rig_messages(&rows).unwrap();
        let mut calls = std::collections::HashMap::new();
        let mut results = 0;
        for message in &messages {
            match message {
                RigMessage::Assistant(turn) => {
                    for call in turn.tool_calls() {
                        calls.insert(call.id.clone(), call.function.name.clone());
                    }
                }
                RigMessage::User { content } => {
                    for item in content {
                        if let UserContent::ToolResult(result) = item {
                            assert_eq!(calls.get(&result.call), Some(&result.name), "{result:?}");
                            results += 1;
                        }
                    }
                }
                RigMessage::System { .. } => {}
            }
        }
        assert_eq!(results, 3);
        // The two results of one reply are one user message.
        assert!(matches!(&messages[3], RigMessage::User { content } if content.len() == 2));
        assert!(
            matches!(&messages[1], RigMessage::User { content } if matches!(content[1], UserContent::Image(_)))
        );
        let RigMessage::Assistant(thinking) = &messages[6] else {
            panic!("{:?}", messages[6])
        };
        assert!(matches!(&thinking.content[0], AssistantContent::Reasoning(r) if r.text == "Hmm."));
    }
}

/// Every message of the Python corpus reads as rig's, but a tool message
/// that has no name and answers no call in view (a typed error) and
/// `remove` messages (left out).
#[test]
fn every_corpus_message_loads() {
    let mut nameless = 0;
    for case in support::corpus::corpus() {
        let support::corpus::Verdict::Accept(normalized) = case.verdict else {
            continue;
        };
        let Ok(row) = Message::from_dict(normalized) else {
            continue;
        };
        match to_rig_messages(std::slice::from_ref(&row)) {
            Ok(messages) => assert_eq!(
                messages.len(),
                usize::from(row.message_type() != MessageType::Remove),
                "{}",
                case.name
            ),
            Err(Error::InvalidMessage(why)) if why.contains("has no name") => {
                assert!(
                    matches!(row.message_type().base(), MessageType::Tool)
                        && row.name().is_none_or(str::is_empty),
                    "{}",
                    case.name
                );
                nameless += 1;
            }
            Err(err) => panic!("{}: {err}", case.name),
        }
    }
    assert!(nameless > 0);
}

// -------------------------------------------------------------- database

fn memory(table: &TempTable, url: &str) -> CockroachDBConversationMemory {
    let engine = AsyncCockroachDBEngine::from_connection_string(url).unwrap();
    CockroachDBConversationMemory::new(&engine, table.options())
}

#[tokio::test]
async fn cases_round_trip_through_the_table() {
    let table = TempTable::new("rig_cases");
    let memory = memory(&table, &database_url());
    for (name, messages) in cases() {
        let id = name.into();
        memory.append(&id, messages.clone()).await.unwrap();
        assert_eq!(memory.load(&id).await.unwrap(), messages, "{name}");
        // The stored rows are the mapping's rows, as Python checked them.
        let stored: Vec<Message> = memory.history(&id).unwrap().messages().await.unwrap();
        assert_eq!(stored, from_rig_messages(&messages).unwrap(), "{name}");
        memory.clear(&id).await.unwrap();
        assert!(memory.load(&id).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn generated_conversations_round_trip_through_the_table() {
    let table = TempTable::new("rig_generated");
    let memory = memory(&table, &database_url());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(gen_message(), 1..6);
    for i in 0..64 {
        let messages = strategy.new_tree(&mut runner).unwrap().current();
        let id = format!("c{i}").into();
        // Two appends: a message's rows keep together across appends.
        let (first, second) = messages.split_at(messages.len() / 2);
        memory.append(&id, first.to_vec()).await.unwrap();
        memory.append(&id, second.to_vec()).await.unwrap();
        assert_eq!(memory.load(&id).await.unwrap(), messages, "case {i}");
    }
}

#[tokio::test]
async fn an_append_whose_reply_was_lost_is_stored_once() {
    let table = TempTable::new("rig_lost");
    let proxy = Proxy::start();
    let memory = memory(&table, &proxy.test_url());
    let id = "t".into();
    memory
        .append(&id, vec![RigMessage::user("warm-up")])
        .await
        .unwrap();
    let (_, turn) = cases()
        .into_iter()
        .find(|(n, _)| *n == "tool_round")
        .unwrap();
    proxy.cut_after_next_request();
    memory.append(&id, turn.clone()).await.unwrap();
    assert_eq!(
        proxy.cuts(),
        1,
        "the reply was not lost: the test proves nothing"
    );
    let mut wanted = vec![RigMessage::user("warm-up")];
    wanted.extend(turn);
    assert_eq!(memory.load(&id).await.unwrap(), wanted);
}

#[tokio::test]
async fn concurrent_appends_keep_each_turn_whole_and_in_order() {
    const WRITERS: usize = 8;
    const TURNS: usize = 10;
    let table = TempTable::new("rig_concurrent");
    let memory = Arc::new(memory(&table, &database_url()));
    let id: rig_core::id::ConversationId = "shared".into();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let memory = Arc::clone(&memory);
            let id = id.clone();
            tokio::spawn(async move {
                for t in 0..TURNS {
                    let call = call(provider_id(&format!("c{w}-{t}")), "f", json!({}));
                    let turn = vec![
                        RigMessage::user(format!("{w}-{t} q")),
                        assistant(vec![AssistantContent::ToolCall(call.clone())]),
                        user(vec![result(&call, vec![ToolResultContent::text("r")])]),
                        RigMessage::assistant(format!("{w}-{t} a")),
                    ];
                    memory.append(&id, turn).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let loaded = memory.load(&id).await.unwrap();
    assert_eq!(loaded.len(), WRITERS * TURNS * 4);
    let mut next = [0usize; WRITERS];
    for turn in loaded.chunks(4) {
        let RigMessage::User { content } = &turn[0] else {
            panic!("a turn opens with its question: {turn:?}")
        };
        let UserContent::Text(q) = &content[0] else {
            panic!()
        };
        let (w, t) = q.text.trim_end_matches(" q").split_once('-').unwrap();
        let (w, t): (usize, usize) = (w.parse().unwrap(), t.parse().unwrap());
        assert_eq!(t, next[w], "writer {w}'s turns out of order");
        next[w] += 1;
        assert_eq!(
            turn[3],
            RigMessage::assistant(format!("{w}-{t} a")),
            "a turn was split"
        );
        assert!(matches!(&turn[2], RigMessage::User { content } if content.len() == 1));
    }
}

/// A conversation of turns with tool rounds, `n` turns long.
fn tool_turns(n: usize) -> Vec<RigMessage> {
    (0..n)
        .flat_map(|t| {
            let a = call(provider_id(&format!("a{t}")), "f", json!({"t": t}));
            let b = call(provider_id(&format!("b{t}")), "g", json!({}));
            vec![
                RigMessage::user(format!("question {t}")),
                assistant(vec![
                    AssistantContent::ToolCall(a.clone()),
                    AssistantContent::ToolCall(b.clone()),
                ]),
                user(vec![
                    result(&a, vec![ToolResultContent::text(format!("result a{t}"))]),
                    result(&b, vec![ToolResultContent::text(format!("result b{t}"))]),
                ]),
                RigMessage::assistant(format!("answer {t}")),
            ]
        })
        .collect()
}

/// Every tool result of `window` answers a call before it in `window`.
fn assert_paired(window: &[RigMessage], what: &str) {
    let mut calls = std::collections::HashSet::new();
    for message in window {
        match message {
            RigMessage::Assistant(turn) => calls.extend(turn.tool_calls().map(|c| c.id.clone())),
            RigMessage::User { content } => {
                for item in content {
                    if let UserContent::ToolResult(r) = item {
                        assert!(
                            calls.contains(&r.call),
                            "{what}: {:?} lost its call",
                            r.call
                        );
                    }
                }
            }
            RigMessage::System { .. } => {}
        }
    }
}

#[tokio::test]
async fn windows_load_the_newest_and_never_cut_a_call_from_its_result() {
    let table = TempTable::new("rig_windows");
    let engine = AsyncCockroachDBEngine::from_connection_string(&database_url()).unwrap();
    let whole = CockroachDBConversationMemory::new(&engine, table.options());
    let id = "long".into();
    let conversation = tool_turns(30);
    whole.append(&id, conversation.clone()).await.unwrap();
    // 30 turns of 4 messages are 150 rows: the results are two rows each.
    assert_eq!(
        whole.history(&id).unwrap().message_count().await.unwrap(),
        150
    );
    for n in 0..=13 {
        let window = whole
            .clone()
            .window(Window::Newest(n))
            .load(&id)
            .await
            .unwrap();
        assert_paired(&window, &format!("newest {n}"));
        let tail = &conversation[conversation.len() - n..];
        // Only a window that would open on results is shorter, by those.
        let opens_on_results = n % 4 == 2;
        let expected = if opens_on_results { &tail[1..] } else { tail };
        assert_eq!(window, expected, "newest {n}");
    }
    let everything = whole
        .clone()
        .window(Window::Newest(1000))
        .load(&id)
        .await
        .unwrap();
    assert_eq!(everything, conversation);

    for budget in [10, 25, 40, 60, 100, 250, 100_000] {
        let trimmed = whole
            .clone()
            .window(Window::Trimmed(TrimOptions::new(budget)))
            .load(&id)
            .await
            .unwrap();
        assert_paired(&trimmed, &format!("budget {budget}"));
        assert!(
            conversation.ends_with(&trimmed),
            "budget {budget}: not the newest messages"
        );
        // The window is LangChain's trim of the rows, from its first whole
        // rig message on.
        let rows = whole
            .history(&id)
            .unwrap()
            .trim(&TrimOptions::new(budget))
            .await
            .unwrap();
        assert!(rows.len() >= from_rig_messages(&trimmed).unwrap().len());
        assert!(
            from_rig_messages(&trimmed)
                .unwrap()
                .iter()
                .all(|m| rows.contains(m)),
            "budget {budget}"
        );
    }
    let all = whole
        .clone()
        .window(Window::Trimmed(TrimOptions::new(100_000)))
        .load(&id)
        .await
        .unwrap();
    assert_eq!(all, conversation);
}

#[tokio::test]
async fn errors_are_backend_errors_with_the_crate_error_as_source() {
    let table = TempTable::new("rig_errors");
    let memory = memory(&table, &database_url());
    // JSONB cannot hold U+0000: refused before any SQL, nothing stored.
    let err = memory
        .append(&"e".into(), vec![RigMessage::user("a\0b")])
        .await
        .unwrap_err();
    let MemoryError::Backend(source) = &err else {
        panic!("{err:?}")
    };
    let source = source.downcast_ref::<Error>().expect("the crate's error");
    assert!(
        matches!(source, Error::InvalidMessage(_)) && !source.is_retryable(),
        "{source:?}"
    );
    assert!(memory.load(&"e".into()).await.unwrap().is_empty());

    let err = memory.load(&"".into()).await.unwrap_err();
    let MemoryError::Backend(source) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(
        source.downcast_ref::<Error>(),
        Some(Error::InvalidIdentifier { .. })
    ));

    // A server that is not there: a connection error, retryable.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let engine = AsyncCockroachDBEngine::with_options(
        &format!("postgresql://root@127.0.0.1:{closed}/test?connect_timeout=1"),
        langchain_cockroachdb::EngineOptions::default()
            .checkout_timeout(std::time::Duration::from_secs(2)),
    )
    .unwrap();
    let offline = CockroachDBConversationMemory::new(&engine, table.options());
    let err = offline.load(&"e".into()).await.unwrap_err();
    let MemoryError::Backend(source) = &err else {
        panic!("{err:?}")
    };
    let source = source.downcast_ref::<Error>().expect("the crate's error");
    assert!(source.is_connection(), "{source:?}");
}
