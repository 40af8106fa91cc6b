//! RSP certificate roles: the certificatePolicies OIDs of SGP.22 v2.2.2 §4.5.2.1.0.x
//! (RSPDefinitions: id-rspRole ::= {2.23.146.1.2.1}).

use const_oid::ObjectIdentifier;

/// Well-known OIDs used by the RSP PKI.
pub mod oid {
    use const_oid::ObjectIdentifier as Oid;

    /// id-rspRole-ci
    pub const RSP_ROLE_CI: Oid = Oid::new_unwrap("2.23.146.1.2.1.0");
    /// id-rspRole-euicc
    pub const RSP_ROLE_EUICC: Oid = Oid::new_unwrap("2.23.146.1.2.1.1");
    /// id-rspRole-eum
    pub const RSP_ROLE_EUM: Oid = Oid::new_unwrap("2.23.146.1.2.1.2");
    /// id-rspRole-dp-tls
    pub const RSP_ROLE_DP_TLS: Oid = Oid::new_unwrap("2.23.146.1.2.1.3");
    /// id-rspRole-dp-auth
    pub const RSP_ROLE_DP_AUTH: Oid = Oid::new_unwrap("2.23.146.1.2.1.4");
    /// id-rspRole-dp-pb
    pub const RSP_ROLE_DP_PB: Oid = Oid::new_unwrap("2.23.146.1.2.1.5");
    /// id-rspRole-ds-tls
    pub const RSP_ROLE_DS_TLS: Oid = Oid::new_unwrap("2.23.146.1.2.1.6");
    /// id-rspRole-ds-auth
    pub const RSP_ROLE_DS_AUTH: Oid = Oid::new_unwrap("2.23.146.1.2.1.7");
    /// GSMA permittedEins extension of SGP.22 v3 EUM certificates (SEQUENCE OF PrintableString).
    pub const PERMITTED_EINS: Oid = Oid::new_unwrap("2.23.146.1.2.2.0");

    /// ecdsa-with-SHA256 (RFC 5758 §3.2).
    pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    /// id-kp-serverAuth (RFC 5280 §4.2.1.12).
    pub const KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
    /// id-kp-clientAuth.
    pub const KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");

    /// X.520 attribute types used in RSP names.
    pub const AT_COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
    pub const AT_SERIAL_NUMBER: Oid = Oid::new_unwrap("2.5.4.5");
    pub const AT_COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
    pub const AT_ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
    pub const AT_ORGANIZATIONAL_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
}

/// The role a certificate plays in the RSP PKI, from its certificatePolicies extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RspRole {
    /// GSMA Certificate Issuer (CERT.CI.ECDSA).
    Ci,
    /// eUICC (CERT.EUICC.ECDSA).
    Euicc,
    /// eUICC Manufacturer (CERT.EUM.ECDSA).
    Eum,
    /// SM-DP+ TLS server (CERT.DP.TLS).
    DpTls,
    /// SM-DP+ authentication (CERT.DPauth.ECDSA).
    DpAuth,
    /// SM-DP+ profile binding (CERT.DPpb.ECDSA).
    DpPb,
    /// SM-DS TLS server (CERT.DS.TLS).
    DsTls,
    /// SM-DS authentication (CERT.DSauth.ECDSA).
    DsAuth,
}

impl RspRole {
    pub const fn policy_oid(self) -> ObjectIdentifier {
        match self {
            RspRole::Ci => oid::RSP_ROLE_CI,
            RspRole::Euicc => oid::RSP_ROLE_EUICC,
            RspRole::Eum => oid::RSP_ROLE_EUM,
            RspRole::DpTls => oid::RSP_ROLE_DP_TLS,
            RspRole::DpAuth => oid::RSP_ROLE_DP_AUTH,
            RspRole::DpPb => oid::RSP_ROLE_DP_PB,
            RspRole::DsTls => oid::RSP_ROLE_DS_TLS,
            RspRole::DsAuth => oid::RSP_ROLE_DS_AUTH,
        }
    }

    pub fn from_policy_oid(oid: &ObjectIdentifier) -> Option<RspRole> {
        [
            RspRole::Ci,
            RspRole::Euicc,
            RspRole::Eum,
            RspRole::DpTls,
            RspRole::DpAuth,
            RspRole::DpPb,
            RspRole::DsTls,
            RspRole::DsAuth,
        ]
        .into_iter()
        .find(|r| r.policy_oid() == *oid)
    }

    /// CA roles sign certificates (keyCertSign, basicConstraints cA=TRUE); the others are end
    /// entities with digitalSignature.
    pub const fn is_ca(self) -> bool {
        matches!(self, RspRole::Ci | RspRole::Eum)
    }

    /// TLS server roles carry extendedKeyUsage id-kp-serverAuth.
    pub const fn is_tls(self) -> bool {
        matches!(self, RspRole::DpTls | RspRole::DsTls)
    }
}
