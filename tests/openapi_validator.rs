//! Conformance of hand-made WhatsApp Cloud API bodies: JSON body → accepted or rejected (with
//! pointer-tagged reasons) by the `Message` request schema of Meta's v23.0 OpenAPI spec.

#[path = "support/openapi.rs"]
mod openapi;

use openapi::MessageSchema;
use serde_json::{json, Value};

/// The envelope every kind shares; `recipient_type` and `type` are required by the spec.
fn envelope(kind: &str, payload: Value) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        "type": kind,
    });
    body[kind] = payload;
    body
}

fn assert_valid(body: &Value) {
    if let Err(errors) = MessageSchema::load().validate(body) {
        panic!("expected a valid body, got {errors:#?}\nbody: {body:#}");
    }
}

/// Asserts rejection and that one error mentions every needle (pointer and reason).
fn assert_rejected(body: &Value, needles: &[&str]) {
    let errors = match MessageSchema::load().validate(body) {
        Ok(()) => panic!("expected a rejection\nbody: {body:#}"),
        Err(errors) => errors,
    };
    let hit = errors.iter().any(|e| needles.iter().all(|n| e.contains(n)));
    assert!(hit, "no error mentions all of {needles:?}: {errors:#?}");
}

fn buttons(count: usize) -> Value {
    let list: Vec<Value> = (1..=count)
        .map(|i| json!({"type": "reply", "reply": {"id": format!("b{i}"), "title": format!("Option {i}")}}))
        .collect();
    Value::Array(list)
}

fn button_message(buttons: Value) -> Value {
    envelope(
        "interactive",
        json!({
            "type": "button",
            "header": {"type": "image", "image": {"link": "https://example.com/h.png"}},
            "body": {"text": "Pick one"},
            "footer": {"text": "Reply below"},
            "action": {"buttons": buttons},
        }),
    )
}

#[test]
fn text_with_preview_url_is_valid() {
    assert_valid(&envelope(
        "text",
        json!({"body": "Hi https://example.com", "preview_url": true}),
    ));
}

#[test]
fn media_kinds_by_link_are_valid() {
    let link = "https://example.com/file";
    assert_valid(&envelope(
        "image",
        json!({"link": link, "caption": "A photo"}),
    ));
    assert_valid(&envelope(
        "video",
        json!({"link": link, "caption": "A clip"}),
    ));
    assert_valid(&envelope("audio", json!({"link": link})));
    assert_valid(&envelope(
        "document",
        json!({"link": link, "caption": "Invoice", "filename": "invoice.pdf"}),
    ));
}

#[test]
fn media_by_id_is_valid_but_id_with_link_or_neither_is_not() {
    assert_valid(&envelope("image", json!({"id": "4490709327384033"})));
    let both = envelope(
        "image",
        json!({"id": "1", "link": "https://example.com/a.png"}),
    );
    assert_rejected(&both, &["/image", "matches 2 oneOf alternatives"]);
    let neither = envelope("image", json!({"caption": "no media"}));
    assert_rejected(&neither, &["/image", "matches none"]);
}

#[test]
fn contacts_with_full_card_is_valid() {
    let card = json!({
        "name": {"formatted_name": "Dr Ana B. Diaz Jr", "first_name": "Ana", "middle_name": "B.",
                 "last_name": "Diaz", "prefix": "Dr", "suffix": "Jr"},
        "phones": [{"phone": "+1 (650) 555-1234", "type": "WORK", "wa_id": "16505551234"}],
        "emails": [{"email": "ana@example.com", "type": "WORK"}],
        "urls": [{"url": "https://example.com", "type": "HOME"}],
        "addresses": [{"street": "1 Hacker Way", "city": "Menlo Park", "state": "CA", "zip": "94025",
                       "country": "United States", "country_code": "us", "type": "WORK"}],
        "org": {"company": "Example", "department": "Design", "title": "Manager"},
        "birthday": "1990-08-18",
    });
    assert_valid(&envelope("contacts", json!([card])));
}

#[test]
fn contacts_reject_unknown_phone_type_and_card_fields() {
    let cell = json!([{"phones": [{"phone": "+15551234567", "type": "CELL"}]}]);
    assert_rejected(
        &envelope("contacts", cell),
        &["/contacts/0/phones/0/type", "\"CELL\""],
    );
    let nick = json!([{"name": {"formatted_name": "Ana", "nickname": "A"}}]);
    assert_rejected(
        &envelope("contacts", nick),
        &["/contacts/0/name/nickname", "not allowed"],
    );
}

#[test]
fn location_takes_coordinates_as_strings() {
    let location = json!({"latitude": "37.4847", "longitude": "-122.1486", "name": "HQ", "address": "1 Hacker Way"});
    assert_valid(&envelope("location", location));
    let numeric = json!({"latitude": 37.4847, "longitude": "-122.1486"});
    assert_rejected(
        &envelope("location", numeric),
        &["/location/latitude", "expected string"],
    );
}

#[test]
fn interactive_buttons_with_image_header_is_valid() {
    assert_valid(&button_message(buttons(3)));
}

#[test]
fn interactive_list_with_two_sections_is_valid() {
    let row = |id: &str| json!({"id": id, "title": format!("Row {id}"), "description": "details"});
    let body = envelope(
        "interactive",
        json!({
            "type": "list",
            "header": {"type": "text", "text": "Menu"},
            "body": {"text": "Choose a dish"},
            "footer": {"text": "Kitchen open"},
            "action": {
                "button": "See menu",
                "sections": [
                    {"title": "Starters", "rows": [row("s1"), row("s2")]},
                    {"title": "Mains", "rows": [row("m1")]},
                ],
            },
        }),
    );
    assert_valid(&body);
}

#[test]
fn four_buttons_exceed_max_items() {
    let body = button_message(buttons(4));
    assert_rejected(
        &body,
        &["/interactive/action", "matches none", "closest is #2"],
    );
    assert_rejected(
        &body,
        &["/interactive/action/buttons", "exceeds maxItems 3"],
    );
}

#[test]
fn button_title_over_twenty_characters_is_rejected() {
    let long = json!([{"type": "reply", "reply": {"id": "a", "title": "An overly long title!"}}]);
    assert_rejected(
        &button_message(long),
        &["/interactive/action/buttons/0/reply/title", "maxLength 20"],
    );
}

#[test]
fn unknown_top_level_field_is_rejected() {
    let mut body = envelope("text", json!({"body": "hi"}));
    body["priority"] = json!("high");
    assert_rejected(&body, &["/priority", "not allowed", "recipient_type"]);
}

#[test]
fn unknown_field_inside_text_or_location_is_rejected() {
    let text = envelope("text", json!({"body": "hi", "bold": true}));
    assert_rejected(&text, &["/text/bold", "not allowed"]);
    let location = envelope(
        "location",
        json!({"latitude": "1", "longitude": "2", "zoom": "3"}),
    );
    assert_rejected(&location, &["/location/zoom", "not allowed"]);
}

#[test]
fn unknown_field_inside_image_is_accepted_because_media_object_is_open() {
    // The spec's MediaObject declares only `id`/`link` and sets no additionalProperties, which is
    // also why `caption` and `filename` pass; catching typos here needs a stricter overlay.
    assert_valid(&envelope(
        "image",
        json!({"link": "https://example.com/a.png", "captoin": "x"}),
    ));
}

#[test]
fn missing_messaging_product_is_rejected() {
    let mut body = envelope("text", json!({"body": "hi"}));
    if let Some(fields) = body.as_object_mut() {
        fields.remove("messaging_product");
    }
    assert_rejected(
        &body,
        &["(root)", "missing required property \"messaging_product\""],
    );
}

#[test]
fn missing_recipient_type_is_rejected() {
    let mut body = envelope("text", json!({"body": "hi"}));
    if let Some(fields) = body.as_object_mut() {
        fields.remove("recipient_type");
    }
    assert_rejected(&body, &["(root)", "\"recipient_type\""]);
}

#[test]
fn wrong_type_for_text_body_is_rejected() {
    let body = envelope("text", json!({"body": 42}));
    assert_rejected(&body, &["/text/body", "expected string, got integer 42"]);
}

#[test]
fn unknown_message_type_is_rejected() {
    let body = envelope("poll", json!({"question": "?"}));
    assert_rejected(&body, &["/type", "\"poll\" is not one of", "interactive"]);
}

#[test]
fn payload_that_does_not_match_its_type_is_rejected() {
    let mut body = envelope("text", json!({"body": "hi"}));
    body["type"] = json!("image");
    assert_rejected(&body, &["(root)", "missing required property \"image\""]);
    assert_rejected(&body, &["/text", "not allowed"]);
}
