//! What a command prints, as JSON for scripts or as text for people, and
//! the confirmation it asks before it destroys data.

use std::io::{BufRead, IsTerminal, Write};

use serde_json::Value;

use crate::outcome::Failure;

/// `yes` or a typed confirmation of `what` on a terminal.
pub(crate) fn confirmed(question: &str, what: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused(
            "not a terminal to ask on: pass --yes to go ahead".into(),
        ));
    }
    eprint!("{question} Type {what:?} to go ahead: ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    match answer.trim() == what {
        true => Ok(()),
        false => Err(Failure::Refused(
            "not confirmed: nothing was changed".into(),
        )),
    }
}

/// Prints `value` as JSON, or `text` for people.
pub(crate) fn report(json: bool, value: Value, text: impl FnOnce() -> String) {
    match json {
        true => println!("{value}"),
        false => println!("{}", text()),
    }
}
