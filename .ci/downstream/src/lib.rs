//! Shapes that `serde_json`'s `arbitrary_precision` breaks for everyone in a
//! build (serde-rs/json #505, #559, #721, #1108): a float inside an
//! internally tagged enum, and inside a flattened struct. Depending on
//! langchain-cockroachdb must leave them working.

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type")]
    enum Event {
        #[serde(rename = "score")]
        Score { value: f64 },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Usage {
        temperature: f64,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Completion {
        id: String,
        #[serde(flatten)]
        usage: Usage,
    }

    #[test]
    fn a_float_in_a_tagged_enum_parses() {
        let event: Event = serde_json::from_str(r#"{"type": "score", "value": 0.5}"#).unwrap();
        assert_eq!(event, Event::Score { value: 0.5 });
    }

    #[test]
    fn a_float_in_a_flattened_struct_parses() {
        let completion: Completion =
            serde_json::from_str(r#"{"id": "c1", "temperature": 0.7}"#).unwrap();
        assert_eq!(completion.usage.temperature, 0.7);
    }

    #[test]
    fn the_crate_is_in_the_build() {
        // So that the dependency, and its features, are really unified here.
        let message = langchain_cockroachdb::Message::human("hi");
        assert_eq!(message.text(), "hi");
    }
}
