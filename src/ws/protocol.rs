//! The JSON envelope of `docs/protocol.md`: parsing a command frame, and building replies.
//! Parsing is total: every input yields either a command or an error with the `re` to answer
//! with, so a bad frame never goes unanswered.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{AppError, ErrorCode};

/// A parsed command frame: `{"id":..,"type":..,"data":{..}}`.
#[derive(Debug)]
pub struct Command {
    pub id: String,
    pub kind: String,
    pub data: Value,
}

/// A frame that is not a valid command, with the id to answer (`None` when none was found).
#[derive(Debug)]
pub struct Rejected {
    pub re: Option<String>,
    pub error: AppError,
}

const MAX_ID_LEN: usize = 64;

pub fn parse_command(text: &str) -> Result<Command, Rejected> {
    let bad = |re: Option<String>, msg: &str| Rejected {
        re,
        error: AppError::new(ErrorCode::BadRequest, msg),
    };
    let value: Value = serde_json::from_str(text).map_err(|e| Rejected {
        re: None,
        error: crate::error::from_serde(&e),
    })?;
    let Value::Object(mut obj) = value else {
        return Err(bad(None, "a command must be a JSON object"));
    };
    let id = match obj.remove("id") {
        Some(Value::String(id)) if (1..=MAX_ID_LEN).contains(&id.len()) => id,
        Some(_) => return Err(bad(None, "`id` must be a string of 1 to 64 characters")),
        None => return Err(bad(None, "missing `id`")),
    };
    let kind = match obj.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => return Err(bad(Some(id), "missing or non-string `type`")),
    };
    let data = match obj.remove("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            return Err(Rejected {
                re: Some(id),
                error: AppError::field("data", "must be an object"),
            })
        }
    };
    if let Some(extra) = obj.keys().next() {
        return Err(bad(Some(id), &format!("unknown envelope key `{extra}`")));
    }
    Ok(Command { id, kind, data })
}

/// `{"re":..,"ok":true,"data":..}`
pub fn ok_reply(re: &str, data: &impl Serialize) -> String {
    json!({ "re": re, "ok": true, "data": data }).to_string()
}

/// [`ok_reply`] for `data` already serialised (a routed command's [`crate::commands::Answer`]).
pub fn ok_reply_raw(re: &str, data: &str) -> String {
    let re = serde_json::to_string(re).unwrap_or_else(|_| "null".into());
    format!("{{\"data\":{data},\"ok\":true,\"re\":{re}}}")
}

/// `{"re":..,"ok":false,"error":{..}}`; `re` is `null` when the frame had no usable id.
pub fn error_reply(re: Option<&str>, error: &AppError) -> String {
    json!({ "re": re, "ok": false, "error": error.body() }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_reply_is_the_same_frame() {
        let data = json!({ "b": [1, 2], "a": "x\"y" });
        assert_eq!(
            serde_json::from_str::<Value>(&ok_reply_raw("c-\"1", &data.to_string())).ok(),
            serde_json::from_str::<Value>(&ok_reply("c-\"1", &data)).ok()
        );
    }

    #[test]
    fn a_full_command_parses() {
        let c = parse_command(r#"{"id":"c1","type":"thing.do","data":{"x":1}}"#).expect("ok");
        assert_eq!((c.id.as_str(), c.kind.as_str()), ("c1", "thing.do"));
        assert_eq!(c.data["x"], 1);
        let c = parse_command(r#"{"id":"c2","type":"thing.list"}"#).expect("ok");
        assert!(c.data.as_object().is_some_and(|o| o.is_empty()));
    }

    #[test]
    fn bad_frames_are_rejected_with_the_right_code_and_re() {
        let cases: [(&str, Option<&str>, &str); 8] = [
            ("not json", None, "bad_request"),
            ("[1,2]", None, "bad_request"),
            (r#"{"type":"thing.list"}"#, None, "bad_request"),
            (r#"{"id":5,"type":"thing.list"}"#, None, "bad_request"),
            (r#"{"id":"c1"}"#, Some("c1"), "bad_request"),
            (r#"{"id":"c1","type":7}"#, Some("c1"), "bad_request"),
            (
                r#"{"id":"c1","type":"x","data":[1]}"#,
                Some("c1"),
                "invalid_field",
            ),
            (
                r#"{"id":"c1","type":"x","extra":1}"#,
                Some("c1"),
                "bad_request",
            ),
        ];
        for (frame, re, code) in cases {
            let r = parse_command(frame).expect_err(frame);
            assert_eq!(r.re.as_deref(), re, "{frame}");
            assert_eq!(r.error.code.as_str(), code, "{frame}");
        }
    }
}
