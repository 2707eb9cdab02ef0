//! Tests for the webhook parser: payloads as api-reference §5 shows them.

use super::*;

fn one_status(line: &str) -> Status {
    match parse_line(line).unwrap().as_slice() {
        [Event::Status(s)] => s.clone(),
        other => panic!("expected one status, got {other:?}"),
    }
}

fn one_inbound(line: &str) -> Inbound {
    match parse_line(line).unwrap().as_slice() {
        [Event::Inbound(m)] => m.clone(),
        other => panic!("expected one inbound message, got {other:?}"),
    }
}

const INBOUND: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.IN1","timestamp":"1749416383","type":"text","text":{"body":"hi"}}]}}]}]}"#;

#[test]
fn an_inbound_message_carries_sender_time_and_profile_name() {
    let events = parse_line(INBOUND).unwrap();
    assert_eq!(
        events,
        vec![Event::Inbound(Inbound {
            provider: Provider::CloudApi,
            message_id: "wamid.IN1".into(),
            from: Some("16505551234".into()),
            from_user_id: None,
            at: 1_749_416_383,
            kind: "text".into(),
            reply_to: None,
            profile_name: Some("Sheena Nelson".into()),
        })]
    );
}

#[test]
fn statuses_carry_key_step_time_and_errors() {
    let line = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","statuses":[
        {"id":"wamid.A","status":"read","timestamp":"1709295140","recipient_id":"16505551234","biz_opaque_callback_data":"3f2a9c01b7de-16505551234-0"},
        {"id":"wamid.B","status":"failed","timestamp":1709295133,"recipient_id":"5215512345678","errors":[{"code":131047,"title":"Re-engagement message"}]}]}}]}]}"#
        .replace('\n', "");
    let events = parse_line(&line).unwrap();
    let [Event::Status(read), Event::Status(failed)] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(read.step, Step::Read);
    assert_eq!(read.key.as_deref(), Some("3f2a9c01b7de-16505551234-0"));
    assert_eq!(read.event_id(), "wamid.A:read:1709295140");
    assert_eq!(read.error_code(), None);
    assert_eq!(failed.step, Step::Failed);
    assert_eq!(failed.at, 1_709_295_133);
    assert_eq!(failed.recipient.as_deref(), Some("5215512345678"));
    assert_eq!(failed.error_code(), Some(131047));
    assert_eq!(failed.errors[0].title, "Re-engagement message");
}

#[test]
fn steps_are_ordered_by_progress() {
    assert!(Step::Sent < Step::Delivered && Step::Delivered < Step::Read);
}

#[test]
fn a_bare_value_and_a_reply_with_only_a_bsuid_are_read() {
    let line = r#"{"messaging_product":"whatsapp","contacts":[{"profile":{"name":"Ana"},"user_id":"US.13491208655302741918"}],"messages":[{"from_user_id":"US.13491208655302741918","id":"wamid.R","timestamp":"1749416400","type":"button","context":{"id":"wamid.OURS"}}]}"#;
    let m = one_inbound(line);
    assert_eq!(m.from, None);
    assert_eq!(m.from_user_id.as_deref(), Some("US.13491208655302741918"));
    assert_eq!(m.reply_to.as_deref(), Some("wamid.OURS"));
    assert_eq!(m.profile_name.as_deref(), Some("Ana"));
    assert_eq!(m.event_id(), "wamid.R");
}

#[test]
fn other_fields_are_valid_and_carry_nothing() {
    let line = r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"account_update","value":{"event":"VERIFIED_ACCOUNT"}}]}]}"#;
    assert_eq!(parse_line(line).unwrap(), vec![]);
}

#[test]
fn messangi_callbacks_are_statuses_keyed_by_external_id() {
    let line = r#"{"callback":"status","id":"m-77","externalId":"3f2a9c01b7de-14155550101-1","status":"delivered","date":"2026-11-29T10:00:00Z","to":"+14155550101","campaignId":"c1"}"#;
    let s = one_status(line);
    assert_eq!(s.provider, Provider::Messangi);
    assert_eq!(s.step, Step::Delivered);
    assert_eq!(s.key.as_deref(), Some("3f2a9c01b7de-14155550101-1"));
    assert_eq!(s.recipient.as_deref(), Some("14155550101"));
    assert_eq!(s.at, 1_795_946_400);
    let failed = r#"{"callback":"status","id":"m-78","externalId":"k","status":"FAILED","date":"1795946400","errorCode":"131047","errorMessage":"window closed"}"#;
    let f = one_status(failed);
    assert_eq!((f.step, f.error_code()), (Step::Failed, Some(131047)));
    let inbound = r#"{"callback":"inbound","id":"mo-1","from":"+14155550101","date":"2026-11-29T09:00:00Z","name":"Ana"}"#;
    let m = one_inbound(inbound);
    assert_eq!(m.from.as_deref(), Some("14155550101"));
    assert_eq!(m.profile_name.as_deref(), Some("Ana"));
}

#[test]
fn broken_lines_say_where_and_what_would_be_right() {
    let cases = [
        ("not json", "$", "not JSON"),
        ("[1]", "$", "not a JSON object"),
        (r#"{"hello":1}"#, "$", "neither a Cloud API webhook"),
        (r#"{"object":"x"}"#, "entry", "missing or not a list"),
        (
            r#"{"entry":[{"changes":[{"value":{"statuses":[{"id":"w","status":"sent"}]}}]}]}"#,
            "entry[0].changes[0].value.statuses[0].timestamp",
            "missing",
        ),
        (
            r#"{"statuses":[{"id":"w","status":"seen","timestamp":"1"}]}"#,
            "$.statuses[0].status",
            "`seen` is not a status",
        ),
        (
            r#"{"messages":[{"id":"w","timestamp":"12x"}]}"#,
            "$.messages[0].from",
            "missing",
        ),
        (
            r#"{"messages":[{"id":"w","from":"1","timestamp":"12x"}]}"#,
            "$.messages[0].timestamp",
            "is not Unix seconds",
        ),
        (
            r#"{"callback":"status","id":"m","status":"SENT","date":"yesterday"}"#,
            "date",
            "expected RFC 3339",
        ),
    ];
    for (line, path, problem) in cases {
        let e = parse_line(line).unwrap_err();
        assert_eq!(e.path, path, "{line}");
        assert!(e.problem.contains(problem), "{line}: {e}");
    }
}
