//! Trust rules: the CA directory mount, the trust variables, and TLS
//! verification (only insecure dev mode may turn it off).

use crate::spec::{Mount, SpecError};
use crate::trust::{TrustVarKind, CONTAINER_BUNDLE_FILE, CONTAINER_CA_DIR, TRUST_VARS};

use super::draft::{shown, Caller, Draft};
use super::report::{PatchKind, Severity};
use super::{InstancePaths, PatchError};

/// Node's switch for TLS verification; `0` turns it off.
pub const NODE_TLS_REJECT_UNAUTHORIZED: &str = "NODE_TLS_REJECT_UNAUTHORIZED";

pub(super) fn mount_ca_dir(draft: &mut Draft<'_>, instance: &InstancePaths) {
    let ours = Mount::bind(&instance.ca_dir, CONTAINER_CA_DIR, true);
    if draft.original.mounts().contains(&ours) {
        return;
    }
    let message = format!(
        "{} mounted read-only (a directory, so a rotated CA shows in running containers)",
        instance.ca_dir.display()
    );
    draft.edit(|b| b.mount(ours));
    draft.note(
        Severity::Info,
        PatchKind::CaMount,
        CONTAINER_CA_DIR,
        message,
    );
}

/// A clash with the CA mount's target, told apart from other spec errors.
pub(super) fn explain_spec_error(error: SpecError) -> PatchError {
    match error {
        SpecError::DuplicateMountTarget { target } if target == CONTAINER_CA_DIR => {
            PatchError::CaDirTaken { target }
        }
        other => PatchError::Spec(other),
    }
}

pub(super) fn set_trust_vars(draft: &mut Draft<'_>, ca_only_paths: &[String]) {
    for var in TRUST_VARS {
        let wanted = var.container_value();
        match draft.caller(var.name, wanted) {
            Caller::Other(value)
                if var.kind == TrustVarKind::Replacing
                    && ca_only_paths.iter().any(|p| p == value) =>
            {
                // A replacing variable makes the tool trust only that file:
                // with the CA alone, every host the proxy lets through with
                // its real certificate fails. Never leave it so.
                let message = format!(
                    "the caller pointed it at a file holding only the proxy CA ({}), which \
                     breaks every host reached without interception: replaced with {}; fix the \
                     caller to use the combined bundle",
                    shown(var.name, value),
                    CONTAINER_BUNDLE_FILE
                );
                draft.edit(|b| b.env(var.name, wanted));
                draft.note(Severity::Error, PatchKind::TrustVariable, var.name, message);
            }
            _ => draft.set_var(PatchKind::TrustVariable, var.name, wanted),
        }
    }
}

pub(super) fn tls_verification(draft: &mut Draft<'_>, insecure_dev_mode: bool) {
    let var = NODE_TLS_REJECT_UNAUTHORIZED;
    if insecure_dev_mode {
        tracing::warn!(
            "INSECURE DEV MODE: {var}=0 is set for agent containers; Node will accept any certificate"
        );
        let caller = draft.caller(var, "0");
        if let Caller::Other(_) = caller {
            draft.set_var(PatchKind::TlsVerification, var, "0");
            return;
        }
        if let Caller::Unset = caller {
            draft.edit(|b| b.env(var, "0"));
        }
        draft.note(
            Severity::Warn,
            PatchKind::TlsVerification,
            var,
            "INSECURE: set to 0 because insecure dev mode was asked for: Node accepts any \
             certificate, including an attacker's; never use this outside development",
        );
    } else if draft.original.env_value(var) == Some("0") {
        draft.note(
            Severity::Warn,
            PatchKind::TlsVerification,
            var,
            "INSECURE: the caller set it to 0, turning Node's TLS verification off; the proxy \
             CA is trusted without it, so remove it",
        );
    }
}
