//! Activation codes (SGP.22 §4.1): `1$SM-DP+ address$AC_Token[$SM-DP+ OID[$CC required flag]]`,
//! shown in a QR code with the `LPA:` prefix.

use std::fmt;
use std::str::FromStr;

/// Why an activation code was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivationCodeError {
    #[error("unsupported AC_Format {0:?} (only \"1\")")]
    UnsupportedFormat(String),
    #[error("missing field: {0}")]
    MissingField(&'static str),
    #[error("invalid SM-DP+ address {0:?}")]
    InvalidAddress(String),
    #[error("invalid matching ID (AC_Token) {0:?}")]
    InvalidMatchingId(String),
    #[error("invalid SM-DP+ OID {0:?}")]
    InvalidOid(String),
    #[error("invalid Confirmation Code Required Flag {0:?} (\"1\" or absent)")]
    InvalidCcFlag(String),
    #[error("too many fields")]
    TooManyFields,
}

/// An SGP.22 v2 activation code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationCode {
    /// FQDN of the SM-DP+ (the `smdpAddress` of ES9+ and ES10b).
    pub smdp_address: String,
    /// AC_Token, used as `matchingId`. May be empty.
    pub matching_id: String,
    /// SM-DP+ OID, to check against the OID in CERT.DPauth.ECDSA.
    pub smdp_oid: Option<String>,
    /// Confirmation Code Required Flag ("1").
    pub confirmation_code_required: bool,
}

/// The QR code prefix (SGP.22 §4.1.1).
pub const QR_PREFIX: &str = "LPA:";

fn valid_fqdn(s: &str) -> bool {
    // RFC 1035/1123 host name, optionally with a ":port" (test SM-DP+ servers).
    let host = match s.rsplit_once(':') {
        Some((h, port))
            if !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) && port.len() <= 5 =>
        {
            h
        }
        _ => s,
    };
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

fn valid_oid(s: &str) -> bool {
    crate::oid::encode(s).is_ok()
}

impl ActivationCode {
    /// Parses with or without the `LPA:` prefix.
    pub fn parse(s: &str) -> Result<Self, ActivationCodeError> {
        let s = s.trim();
        let body = s
            .strip_prefix(QR_PREFIX)
            .or_else(|| s.strip_prefix("lpa:"))
            .unwrap_or(s);
        let mut f = body.split('$');
        let format = f.next().unwrap_or_default();
        if format != "1" {
            return Err(ActivationCodeError::UnsupportedFormat(format.to_string()));
        }
        let addr = f
            .next()
            .ok_or(ActivationCodeError::MissingField("SM-DP+ address"))?;
        if !valid_fqdn(addr) {
            return Err(ActivationCodeError::InvalidAddress(addr.to_string()));
        }
        let token = f
            .next()
            .ok_or(ActivationCodeError::MissingField("AC_Token"))?;
        if token.chars().any(|c| c.is_control()) {
            return Err(ActivationCodeError::InvalidMatchingId(token.to_string()));
        }
        let smdp_oid = match f.next() {
            None | Some("") => None,
            Some(o) if valid_oid(o) => Some(o.to_string()),
            Some(o) => return Err(ActivationCodeError::InvalidOid(o.to_string())),
        };
        let confirmation_code_required = match f.next() {
            None | Some("") | Some("0") => false,
            Some("1") => true,
            Some(x) => return Err(ActivationCodeError::InvalidCcFlag(x.to_string())),
        };
        if f.next().is_some() {
            return Err(ActivationCodeError::TooManyFields);
        }
        Ok(ActivationCode {
            smdp_address: addr.to_string(),
            matching_id: token.to_string(),
            smdp_oid,
            confirmation_code_required,
        })
    }

    /// The QR code text, `LPA:` + the activation code.
    pub fn to_qr_string(&self) -> String {
        format!("{QR_PREFIX}{self}")
    }
}

impl FromStr for ActivationCode {
    type Err = ActivationCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The activation code without the `LPA:` prefix; optional trailing fields are omitted when
/// empty (an empty OID field is kept only when the flag follows).
impl fmt::Display for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1${}${}", self.smdp_address, self.matching_id)?;
        match (&self.smdp_oid, self.confirmation_code_required) {
            (None, false) => Ok(()),
            (Some(o), false) => write!(f, "${o}"),
            (o, true) => write!(f, "${}$1", o.as_deref().unwrap_or("")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgp22_examples_roundtrip() {
        // Activation codes from SGP.22 §4.1 examples, as used in osmocom pySim
        // tests/unittests/test_esim.py (TestActivationCode).
        for s in [
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1",
            "1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746",
            "1$SMDP.GSMA.COM$$1.3.6.1.4.1.31746",
        ] {
            let ac: ActivationCode = s.parse().unwrap();
            assert_eq!(ac.to_string(), s);
            assert_eq!(ActivationCode::parse(&ac.to_qr_string()).unwrap(), ac);
        }
        let ac = ActivationCode::parse(
            "LPA:1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$1.3.6.1.4.1.31746$1",
        )
        .unwrap();
        assert_eq!(ac.smdp_address, "SMDP.GSMA.COM");
        assert_eq!(ac.matching_id, "04386-AGYFT-A74Y8-3F815");
        assert_eq!(ac.smdp_oid.as_deref(), Some("1.3.6.1.4.1.31746"));
        assert!(ac.confirmation_code_required);
    }

    #[test]
    fn rejects_bad_codes() {
        use ActivationCodeError::*;
        assert!(matches!(
            ActivationCode::parse("2$a.com$x"),
            Err(UnsupportedFormat(_))
        ));
        assert!(matches!(ActivationCode::parse("1"), Err(MissingField(_))));
        assert!(matches!(
            ActivationCode::parse("1$a.com"),
            Err(MissingField(_))
        ));
        assert!(matches!(
            ActivationCode::parse("1$bad host$x"),
            Err(InvalidAddress(_))
        ));
        assert!(matches!(
            ActivationCode::parse("1$$x"),
            Err(InvalidAddress(_))
        ));
        assert!(matches!(
            ActivationCode::parse("1$a.com$x$1.x"),
            Err(InvalidOid(_))
        ));
        assert!(matches!(
            ActivationCode::parse("1$a.com$x$$2"),
            Err(InvalidCcFlag(_))
        ));
        assert!(matches!(
            ActivationCode::parse("1$a.com$x$$1$z"),
            Err(TooManyFields)
        ));
        assert!(ActivationCode::parse("LPA:1$smdp.example.com:8443$ABC").is_ok());
    }
}
