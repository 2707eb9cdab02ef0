//! `type: contacts`: full contact cards (name parts, phones, emails, org, urls, addresses,
//! birthday), in the shape both providers take.

use super::{visit_opt, Check, Kind, Seg};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Contacts per message (Cloud API limit).
pub const CONTACTS_MAX: usize = 257;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contacts {
    /// One to 257 contact cards.
    pub contacts: Vec<Contact>,
}

/// One contact card.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub name: Name,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<ContactPhone>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<Org>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<Url>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<String>,
}

macro_rules! record {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident $(as $rename:literal)?),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $(
                $(#[$fdoc])*
                $(#[serde(rename = $rename)])?
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<String>,
            )*
        }

        impl $name {
            fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String), base: &[Seg]) {
                $(
                    let mut p = base.to_vec();
                    p.push(Seg::K(record!(@name $field $($rename)?)));
                    visit_opt(f, &p, &mut self.$field);
                )*
            }
        }
    };
    (@name $field:ident $rename:literal) => { $rename };
    (@name $field:ident) => { stringify!($field) };
}

record!(
    /// Name parts; `formatted_name` (the full name shown on the card) is required.
    Name { formatted_name, first_name, last_name, middle_name, suffix, prefix }
);
record!(
    /// A phone number on the card; `wa_id` adds Message / Save buttons.
    ContactPhone { phone, kind as "type", wa_id }
);
record!(
    /// An email address (`type`: HOME, WORK).
    Email { email, kind as "type" }
);
record!(
    /// Employer details.
    Org { company, department, title }
);
record!(
    /// A web address (`type`: HOME, WORK).
    Url { url, kind as "type" }
);
record!(
    /// A postal address; `country_code` is ISO 3166-1 alpha-2.
    Address { street, city, state, zip, country, country_code, kind as "type" }
);

/// A record's own visitor: it calls the callback on each of its string fields under a base path.
type VisitFn<T> = fn(&mut T, &mut dyn FnMut(&[Seg], &mut String), &[Seg]);

fn visit_list<T>(
    f: &mut dyn FnMut(&[Seg], &mut String),
    base: &[Seg],
    key: &'static str,
    items: &mut [T],
    each: VisitFn<T>,
) {
    for (i, item) in items.iter_mut().enumerate() {
        let mut p = base.to_vec();
        p.extend([Seg::K(key), Seg::I(i)]);
        each(item, f, &p);
    }
}

impl Contact {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String), base: &[Seg]) {
        let mut name = base.to_vec();
        name.push(Seg::K("name"));
        self.name.visit(f, &name);
        visit_list(f, base, "phones", &mut self.phones, ContactPhone::visit);
        visit_list(f, base, "emails", &mut self.emails, Email::visit);
        visit_list(f, base, "urls", &mut self.urls, Url::visit);
        visit_list(f, base, "addresses", &mut self.addresses, Address::visit);
        if let Some(org) = &mut self.org {
            let mut p = base.to_vec();
            p.push(Seg::K("org"));
            org.visit(f, &p);
        }
        let mut p = base.to_vec();
        p.push(Seg::K("birthday"));
        visit_opt(f, &p, &mut self.birthday);
    }

    fn check(&self, c: &mut Check, base: &[Seg]) {
        let at = |tail: &[Seg]| [base, tail].concat();
        if self
            .name
            .formatted_name
            .as_deref()
            .is_none_or(|n| n.trim().is_empty())
        {
            c.error(
                &at(&[Seg::K("name"), Seg::K("formatted_name")]),
                "is missing or empty",
                Some("give `formatted_name`, the full name shown on the card".into()),
            );
        }
        if let Some(b) = &self.birthday {
            if b.parse::<jiff::civil::Date>().is_err() || b.len() != 10 {
                c.error(
                    &at(&[Seg::K("birthday")]),
                    format!("`{b}` is not a date"),
                    Some("write YYYY-MM-DD, e.g. 1990-04-21".into()),
                );
            }
        }
        for (i, a) in self.addresses.iter().enumerate() {
            if let Some(cc) = &a.country_code {
                if cc.len() != 2 || !cc.chars().all(|ch| ch.is_ascii_alphabetic()) {
                    c.error(
                        &at(&[Seg::K("addresses"), Seg::I(i), Seg::K("country_code")]),
                        format!("`{cc}` is not a two-letter country code"),
                        Some("use ISO 3166-1 alpha-2, e.g. US".into()),
                    );
                }
            }
        }
        let kinds = self
            .phones
            .iter()
            .map(|p| ("phones", &p.kind))
            .chain(self.emails.iter().map(|e| ("emails", &e.kind)))
            .chain(self.urls.iter().map(|u| ("urls", &u.kind)))
            .chain(self.addresses.iter().map(|a| ("addresses", &a.kind)));
        let mut index: std::collections::HashMap<&str, usize> = Default::default();
        for (list, kind) in kinds {
            let i = index.entry(list).or_default();
            if let Some(k) = kind {
                if k != "HOME" && k != "WORK" {
                    c.error(
                        &at(&[Seg::K(list), Seg::I(*i), Seg::K("type")]),
                        format!("`{k}` is not a contact field type"),
                        Some("use HOME or WORK (Meta's Message schema allows only these)".into()),
                    );
                }
            }
            *i += 1;
        }
        for (i, u) in self.urls.iter().enumerate() {
            if let Some(url) = &u.url {
                c.url(&at(&[Seg::K("urls"), Seg::I(i), Seg::K("url")]), url);
            }
        }
    }
}

impl Kind for Contacts {
    fn visit(&mut self, f: &mut dyn FnMut(&[Seg], &mut String)) {
        visit_list(f, &[], "contacts", &mut self.contacts, Contact::visit);
    }

    fn check(&self, c: &mut Check) {
        c.count(
            &[Seg::K("contacts")],
            self.contacts.len(),
            1,
            CONTACTS_MAX,
            "contacts",
        );
        for (i, contact) in self.contacts.iter().enumerate() {
            contact.check(c, &[Seg::K("contacts"), Seg::I(i)]);
        }
    }

    fn cloud(&self) -> serde_json::Value {
        serde_json::to_value(&self.contacts).unwrap_or_default()
    }
}
