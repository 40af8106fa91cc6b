//! command_status values (SMPP v3.4 Issue 1.2 §5.1.3, table 5-2).

use std::fmt;

/// The command_status field of a PDU header. Requests carry [`CommandStatus::ESME_ROK`];
/// responses carry the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CommandStatus(pub u32);

macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $value:expr;)*) => {
        impl CommandStatus {
            $($(#[$doc])* pub const $name: CommandStatus = CommandStatus($value);)*

            /// The spec's name (`ESME_R...`) of a defined code.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// No error.
    ESME_ROK = 0x0000_0000;
    /// Message length is invalid.
    ESME_RINVMSGLEN = 0x0000_0001;
    /// Command length is invalid.
    ESME_RINVCMDLEN = 0x0000_0002;
    /// Invalid command ID.
    ESME_RINVCMDID = 0x0000_0003;
    /// Incorrect BIND status for given command.
    ESME_RINVBNDSTS = 0x0000_0004;
    /// ESME already in bound state.
    ESME_RALYBND = 0x0000_0005;
    /// Invalid priority flag.
    ESME_RINVPRTFLG = 0x0000_0006;
    /// Invalid registered delivery flag.
    ESME_RINVREGDLVFLG = 0x0000_0007;
    /// System error.
    ESME_RSYSERR = 0x0000_0008;
    /// Invalid source address.
    ESME_RINVSRCADR = 0x0000_000A;
    /// Invalid destination address.
    ESME_RINVDSTADR = 0x0000_000B;
    /// Message ID is invalid.
    ESME_RINVMSGID = 0x0000_000C;
    /// Bind failed.
    ESME_RBINDFAIL = 0x0000_000D;
    /// Invalid password.
    ESME_RINVPASWD = 0x0000_000E;
    /// Invalid system ID.
    ESME_RINVSYSID = 0x0000_000F;
    /// cancel_sm failed.
    ESME_RCANCELFAIL = 0x0000_0011;
    /// replace_sm failed.
    ESME_RREPLACEFAIL = 0x0000_0013;
    /// Message queue full.
    ESME_RMSGQFUL = 0x0000_0014;
    /// Invalid service type.
    ESME_RINVSERTYP = 0x0000_0015;
    /// Invalid number of destinations.
    ESME_RINVNUMDESTS = 0x0000_0033;
    /// Invalid distribution list name.
    ESME_RINVDLNAME = 0x0000_0034;
    /// Destination flag is invalid (submit_multi).
    ESME_RINVDESTFLAG = 0x0000_0040;
    /// Invalid 'submit with replace' request.
    ESME_RINVSUBREP = 0x0000_0042;
    /// Invalid esm_class field data.
    ESME_RINVESMCLASS = 0x0000_0043;
    /// Cannot submit to distribution list.
    ESME_RCNTSUBDL = 0x0000_0044;
    /// submit_sm or submit_multi failed.
    ESME_RSUBMITFAIL = 0x0000_0045;
    /// Invalid source address TON.
    ESME_RINVSRCTON = 0x0000_0048;
    /// Invalid source address NPI.
    ESME_RINVSRCNPI = 0x0000_0049;
    /// Invalid destination address TON.
    ESME_RINVDSTTON = 0x0000_0050;
    /// Invalid destination address NPI.
    ESME_RINVDSTNPI = 0x0000_0051;
    /// Invalid system_type field.
    ESME_RINVSYSTYP = 0x0000_0053;
    /// Invalid replace_if_present flag.
    ESME_RINVREPFLAG = 0x0000_0054;
    /// Invalid number of messages.
    ESME_RINVNUMMSGS = 0x0000_0055;
    /// Throttling error (ESME has exceeded allowed message limits).
    ESME_RTHROTTLED = 0x0000_0058;
    /// Invalid scheduled delivery time.
    ESME_RINVSCHED = 0x0000_0061;
    /// Invalid message validity period (expiry time).
    ESME_RINVEXPIRY = 0x0000_0062;
    /// Predefined message invalid or not found.
    ESME_RINVDFTMSGID = 0x0000_0063;
    /// ESME receiver temporary app error code.
    ESME_RX_T_APPN = 0x0000_0064;
    /// ESME receiver permanent app error code.
    ESME_RX_P_APPN = 0x0000_0065;
    /// ESME receiver reject message error code.
    ESME_RX_R_APPN = 0x0000_0066;
    /// query_sm request failed.
    ESME_RQUERYFAIL = 0x0000_0067;
    /// Error in the optional part of the PDU body.
    ESME_RINVOPTPARSTREAM = 0x0000_00C0;
    /// Optional parameter not allowed.
    ESME_ROPTPARNOTALLWD = 0x0000_00C1;
    /// Invalid parameter length.
    ESME_RINVPARLEN = 0x0000_00C2;
    /// Expected optional parameter missing.
    ESME_RMISSINGOPTPARAM = 0x0000_00C3;
    /// Invalid optional parameter value.
    ESME_RINVOPTPARAMVAL = 0x0000_00C4;
    /// Delivery failure (used for data_sm_resp).
    ESME_RDELIVERYFAILURE = 0x0000_00FE;
    /// Unknown error.
    ESME_RUNKNOWNERR = 0x0000_00FF;
}

impl CommandStatus {
    /// True for ESME_ROK.
    pub fn is_ok(self) -> bool {
        self == CommandStatus::ESME_ROK
    }

    /// Whether a submit_sm refused with this status may succeed when the same message is
    /// sent again later unchanged: throttling and a full queue are transient (§5.1.3),
    /// "incorrect bind status" means the session must be re-established first.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            CommandStatus::ESME_RTHROTTLED
                | CommandStatus::ESME_RMSGQFUL
                | CommandStatus::ESME_RX_T_APPN
                | CommandStatus::ESME_RINVBNDSTS
        )
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n} (0x{:08X})", self.0),
            None => write!(f, "0x{:08X}", self.0),
        }
    }
}
