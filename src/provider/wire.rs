//! The two wire formats and the one table of their limits, used alike by `check` (validating a
//! campaign) and by the sandbox (validating what it receives).

use crate::message::Limits;

/// A provider's wire format: how a request is shaped and which limits apply to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Wire {
    /// Messangi `POST /notification` with the `{channel, request}` envelope.
    #[value(name = "messangi")]
    Messangi,
    /// WhatsApp Cloud API `POST /{version}/{phone_number_id}/messages`.
    #[value(name = "cloud_api")]
    CloudApi,
}

impl Wire {
    /// The `kind:` that selects this format in a campaign file.
    pub fn name(self) -> &'static str {
        match self {
            Wire::Messangi => "messangi",
            Wire::CloudApi => "cloud_api",
        }
    }

    /// The limits this format's provider applies (API reference §2.3).
    pub fn limits(self) -> Limits {
        match self {
            Wire::Messangi => Limits {
                provider: "Messangi",
                text_body: 1024,
                media_ids: false,
            },
            Wire::CloudApi => Limits {
                provider: "the Cloud API",
                text_body: 4096,
                media_ids: true,
            },
        }
    }
}
