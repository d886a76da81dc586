//! What langchain_core's validators do with Python's own functions, done
//! the same way here: `str()` of a JSON value, `json.dumps`, a number's
//! `str()`, truthiness, and langchain_core's `parse_partial_json`.

use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Python's truthiness of a JSON value.
pub(super) fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => !is_zero(n),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn is_zero(n: &Number) -> bool {
    n.to_string()
        .trim_start_matches('-')
        .chars()
        .take_while(|c| *c != 'e' && *c != 'E')
        .all(|c| c == '0' || c == '.')
}

/// Whether `json.loads` makes a float of this number (else an int).
fn is_float(n: &Number) -> bool {
    n.to_string().contains(['.', 'e', 'E'])
}

/// `str(x)` of the number `json.loads` makes of `n`.
pub(super) fn number_str(n: &Number) -> String {
    let text = n.to_string();
    if !is_float(n) {
        return text;
    }
    match text.parse::<f64>() {
        Ok(x) => float_repr(x),
        Err(_) => text,
    }
}

/// Python's `repr(float)`: the shortest digits that read back the same, in
/// fixed notation from 1e-4 up to 1e16, else as `1.5e+300`.
fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest digits: "-1.5e300", "1e-7".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1;
        let mut out = String::from(sign);
        if point <= 0 {
            out.push_str("0.");
            out.push_str(&"0".repeat(point.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point as usize - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
        out
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.unsigned_abs())
    }
}

/// Python's `str(x)` of the value `json.loads` makes of `value`.
pub(super) fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => repr(other),
    }
}

/// Python's `repr(x)` of the value `json.loads` makes of `value`.
pub(super) fn repr(value: &Value) -> String {
    super::deep::grow(|| match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => number_str(n),
        Value::String(s) => string_repr(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", string_repr(k), repr(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
    })
}

/// Python's `repr(str)`: single quotes unless the text holds one and no
/// double quote. (Python also escapes the non-printable characters of
/// Unicode's other classes; control characters are the common case.)
fn string_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Python's `json.dumps(value)` with its defaults: `", "` and `": "`
/// separators, every non-ASCII character escaped.
pub(super) fn json_dumps(value: &Value) -> String {
    let mut out = String::new();
    dump(value, true, &mut out);
    out
}

/// `json.dumps(value, ensure_ascii=False)`.
pub(super) fn json_dumps_unicode(value: &Value) -> String {
    let mut out = String::new();
    dump(value, false, &mut out);
    out
}

fn dump(value: &Value, ascii: bool, out: &mut String) {
    super::deep::grow(|| match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_str(n)),
        Value::String(s) => dump_str(s, ascii, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump(item, ascii, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                dump_str(k, ascii, out);
                out.push_str(": ");
                dump(v, ascii, out);
            }
            out.push('}');
        }
    })
}

fn dump_str(s: &str, ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) >= 0x20 && (c.is_ascii() || !ascii) => out.push(c),
            c => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// langchain_core's `parse_partial_json`: JSON that a stream cut short,
/// closed as well as can be (open strings, objects and lists), or `None`.
pub(super) fn parse_partial_json(s: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(s) {
        return Some(value);
    }
    // Python's list of characters (a newline inside a string becomes `\n`,
    // one element of two bytes) as one string, with two bits a byte.
    let mut chars = Elements::default();
    let mut stack: Vec<char> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    for c in s.chars() {
        let was_in_string = in_string;
        if in_string {
            if c == '"' && !escaped {
                in_string = false;
            } else if c == '\n' && !escaped {
                chars.push_newline_escape();
                continue;
            } else if c == '\\' {
                escaped = !escaped;
            } else {
                escaped = false;
            }
        } else if c == '"' {
            in_string = true;
            escaped = false;
        } else if c == '{' {
            stack.push('}');
        } else if c == '[' {
            stack.push(']');
        } else if c == '}' || c == ']' {
            if stack.last() == Some(&c) {
                stack.pop();
            } else {
                return None;
            }
        }
        chars.push(c, was_in_string);
    }
    if in_string {
        if escaped {
            chars.pop();
        }
        chars.push('"', true);
    }
    let closers: String = stack.iter().rev().collect();
    // Shorter and shorter candidates, as Python's loop: a candidate that
    // fails at a byte fails there in every longer one too, so those are
    // skipped; and one that fails in the closers fails there too without
    // the whitespace it ends with, so that goes at once (else each of a
    // million trailing spaces would be a parse of its own).
    while !chars.text.is_empty() {
        // The candidate is the elements and the closers, in place.
        let length = chars.text.len();
        chars.text.push_str(&closers);
        match serde_json::from_str::<Value>(&chars.text) {
            Ok(value) => return Some(value),
            Err(e) => {
                let at = byte_offset(&chars.text, e.line(), e.column());
                chars.text.truncate(length);
                if at < length {
                    chars.truncate_before(at);
                } else {
                    chars.pop();
                    chars.drop_trailing_blanks();
                }
            }
        }
    }
    None
}

/// `parse_partial_json`'s list of elements: characters, and the two-byte
/// `\n` that stands for a newline in a string.
#[derive(Default)]
struct Elements {
    text: String,
    /// The bytes inside a string literal.
    inside: Bits,
    /// The second bytes of the `\n` elements.
    joined: Bits,
}

impl Elements {
    fn push(&mut self, c: char, inside: bool) {
        let at = self.text.len();
        self.text.push(c);
        self.inside.set(at..self.text.len(), inside);
        self.joined.set(at..self.text.len(), false);
    }

    fn push_newline_escape(&mut self) {
        let at = self.text.len();
        self.text.push_str("\\n");
        self.inside.set(at..at + 2, true);
        self.joined.set(at..at + 1, false);
        self.joined.set(at + 1..at + 2, true);
    }

    /// Removes the last element.
    fn pop(&mut self) {
        match self.text.len().checked_sub(1) {
            Some(last) if self.joined.get(last) => self.text.truncate(last - 1),
            _ => {
                self.text.pop();
            }
        }
    }

    /// Removes the whitespace the text ends with outside string literals,
    /// which no JSON parser sees.
    fn drop_trailing_blanks(&mut self) {
        let bytes = self.text.as_bytes();
        let mut end = bytes.len();
        while end > 0
            && matches!(bytes[end - 1], b' ' | b'\t' | b'\r' | b'\n')
            && !self.inside.get(end - 1)
        {
            end -= 1;
        }
        self.text.truncate(end);
    }

    /// Keeps the elements that end at or before byte `at`.
    fn truncate_before(&mut self, at: usize) {
        let mut end = at;
        while !self.text.is_char_boundary(end) {
            end -= 1;
        }
        if end > 0 && self.joined.get(end) {
            end -= 1;
        }
        self.text.truncate(end);
    }
}

/// One bit per byte of a text.
#[derive(Default)]
struct Bits(Vec<u64>);

impl Bits {
    fn set(&mut self, bytes: std::ops::Range<usize>, on: bool) {
        for i in bytes {
            let (word, bit) = (i / 64, i % 64);
            if word >= self.0.len() {
                self.0.resize(word + 1, 0);
            }
            match on {
                true => self.0[word] |= 1 << bit,
                false => self.0[word] &= !(1 << bit),
            }
        }
    }

    fn get(&self, i: usize) -> bool {
        self.0
            .get(i / 64)
            .is_some_and(|word| word & (1 << (i % 64)) != 0)
    }
}

/// The byte offset of a 1-based line and column (serde_json's positions).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let before: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    before + column.saturating_sub(1)
}

/// A JSON object from pairs.
pub(super) fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What langchain_core 1.8.3's `parse_partial_json` gives for these
    /// (newlines inside strings escaped, one element each, and cut back).
    #[test]
    fn partial_json_as_langchain_closes_it() {
        for (text, python) in [
            ("{\"a\": \"x\ny", json!({"a": "x\ny"})),
            ("{\"a\": \"x\n", json!({"a": "x\n"})),
            ("{\"a\": \"b\\", json!({"a": "b"})),
            (
                "{\"a\": [\"x\ny\", {\"b\": \"z\n\n",
                json!({"a": ["x\ny", {"b": "z\n\n"}]}),
            ),
            ("{\"a\": 1, \"b\": \"\n", json!({"a": 1, "b": "\n"})),
            ("[1, 2, \"a\nb\" , {\"k\": tru", json!([1, 2, "a\nb", {}])),
            ("{\"a\": \"é\né", json!({"a": "é\né"})),
            (r#"{"q": "ru"#, json!({"q": "ru"})),
            ("{oops", json!({})),
            ("[1, 2", json!([1, 2])),
            ("{\"a\"      ", json!({})),
            ("[\"x  ", json!(["x  "])),
            ("{\"a\": [1, {\"b\"\n\n  ", json!({"a": [1, {}]})),
        ] {
            assert_eq!(parse_partial_json(text), Some(python), "{text:?}");
        }
        assert_eq!(parse_partial_json("}"), None);
        // A million spaces after a key: one parse for all of them (one
        // each would take a quarter of an hour).
        let long = format!("{{\"a\"{}", " ".repeat(1 << 20));
        assert_eq!(parse_partial_json(&long), Some(json!({})));
    }

    #[test]
    fn floats_print_as_python_prints_them() {
        for (x, python) in [
            (1e-7, "1e-07"),
            (2.5, "2.5"),
            (3.0, "3.0"),
            (1.5e300, "1.5e+300"),
            (0.0001, "0.0001"),
            (123456789.0, "123456789.0"),
            (1e16, "1e+16"),
            (-0.5, "-0.5"),
            (0.1, "0.1"),
        ] {
            assert_eq!(float_repr(x), python);
        }
    }

    #[test]
    fn values_print_as_python_prints_them() {
        // Keys in sorted order, the order of both key-order modes.
        let value = json!({"n": [1, 2.5, null, true, "it's"], "type": "text"});
        assert_eq!(
            str_of(&value),
            r#"{'n': [1, 2.5, None, True, "it's"], 'type': 'text'}"#
        );
        assert_eq!(
            json_dumps(&json!({"city": "Paris", "é": [1, 2.0]})),
            r#"{"city": "Paris", "\u00e9": [1, 2.0]}"#
        );
    }
}
