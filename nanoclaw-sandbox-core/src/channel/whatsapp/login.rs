//! Logging in: the phone number a pairing code is asked for, the login
//! events as data ([`WhatsAppLogin`]), and the QR code drawn for a terminal
//! or as a PNG file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qrcode::{Color, QrCode};

/// The modules of light margin around a QR code (the standard's quiet zone).
const QUIET_ZONE: usize = 4;

/// Pixels per module in a PNG.
const PNG_SCALE: usize = 8;

/// Why a phone number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// Not 7 to 15 digits, or characters other than digits, spaces, `+`, `-`,
    /// `.` and parentheses.
    #[error(
        "the phone number is malformed: give the account's number in international format, \
         country code first, 7 to 15 digits (e.g. +15551234567; spaces, dashes and \
         parentheses are ignored) (the value is not shown)"
    )]
    Malformed,
    /// It starts with 0: a national trunk prefix or `00` instead of `+`.
    #[error(
        "the phone number starts with 0: give it in international format, country code \
         first, without a trunk 0 or an 00 prefix (e.g. +15551234567) (the value is not shown)"
    )]
    NotInternational,
}

/// The phone number of the WhatsApp account to link, for a pairing code:
/// digits only, country code first. Never shown (`Debug` prints `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Reads `+1 (555) 123-4567`, `15551234567` and the like: a leading `+`,
    /// spaces, dashes, dots and parentheses are dropped; what remains must be
    /// 7 to 15 digits (E.164) not starting with 0.
    pub fn parse(text: &str) -> Result<Self, PhoneError> {
        let text = text.trim();
        let text = text.strip_prefix('+').unwrap_or(text);
        let mut digits = String::with_capacity(text.len());
        for c in text.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::Malformed),
            }
        }
        if !(7..=15).contains(&digits.len()) {
            return Err(PhoneError::Malformed);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::NotInternational);
        }
        Ok(PhoneNumber(digits))
    }

    /// The digits, for the pairing request.
    pub(crate) fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PhoneNumber(***)")
    }
}

/// What the login tells the person linking the account, as data for the
/// host to show (the QR helpers below draw a code).
///
/// `Debug` does not show the codes: they link a device while they are valid.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhatsAppLogin {
    /// Scan this code in WhatsApp (Settings → Linked devices → Link a
    /// device) within `valid_for`; a new one follows when it expires. Draw
    /// it with [`qr_terminal`] or [`qr_png`].
    Qr {
        /// The QR code's text (what the image encodes).
        code: String,
        /// How long it stays valid.
        valid_for: Duration,
    },
    /// Enter this code in WhatsApp on the phone of the number given
    /// (Linked devices → Link a device → Link with phone number instead)
    /// within `valid_for`.
    PairingCode {
        /// Eight characters, e.g. `ABCD1234`.
        code: String,
        /// How long it stays valid.
        valid_for: Duration,
    },
    /// The phone confirmed the link; the session is stored and the client
    /// reconnects with it.
    Paired,
    /// Connected and logged in (a stored session, or just after pairing).
    LoggedIn,
}

impl fmt::Debug for WhatsAppLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WhatsAppLogin::Qr { code, valid_for } => f
                .debug_struct("Qr")
                .field("code", &format_args!("<{} characters>", code.len()))
                .field("valid_for", valid_for)
                .finish(),
            WhatsAppLogin::PairingCode { valid_for, .. } => f
                .debug_struct("PairingCode")
                .field("code", &format_args!("***"))
                .field("valid_for", valid_for)
                .finish(),
            WhatsAppLogin::Paired => f.write_str("Paired"),
            WhatsAppLogin::LoggedIn => f.write_str("LoggedIn"),
        }
    }
}

/// Why a QR code could not be drawn or saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit in a QR code.
    #[error("the login QR code cannot be encoded ({reason})")]
    Encode {
        /// The encoder's reason.
        reason: String,
    },
    /// The PNG could not be encoded or written.
    #[error(
        "the login QR code could not be written to {}: {reason}: check that its \
         directory exists and is writable",
        path.display()
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

/// The code's modules, dark = `true`, with the quiet zone around them.
fn modules(code: &str) -> Result<(Vec<bool>, usize), QrError> {
    let qr = QrCode::new(code.as_bytes()).map_err(|e| QrError::Encode {
        reason: e.to_string(),
    })?;
    let inner = qr.width();
    let size = inner + 2 * QUIET_ZONE;
    let mut dark = vec![false; size * size];
    for (i, color) in qr.to_colors().into_iter().enumerate() {
        let (x, y) = (i % inner, i / inner);
        dark[(y + QUIET_ZONE) * size + x + QUIET_ZONE] = color == Color::Dark;
    }
    Ok((dark, size))
}

/// The terminal's colours, which decide what a block character stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TerminalTheme {
    /// Light text on a dark background (most terminals): light modules are
    /// drawn as blocks.
    #[default]
    Dark,
    /// Dark text on a light background: dark modules are drawn as blocks.
    Light,
}

/// The QR code as text for a terminal: two rows of modules per line in
/// Unicode half blocks (`█ ▀ ▄` and spaces), quiet zone included, each line
/// ending in `\n`.
pub fn qr_terminal(code: &str, theme: TerminalTheme) -> Result<String, QrError> {
    let (dark, size) = modules(code)?;
    // Whether a module is drawn with ink (the foreground colour).
    let inked = |x: usize, y: usize| {
        let is_dark = y < size && dark[y * size + x];
        match theme {
            TerminalTheme::Dark => !is_dark,
            TerminalTheme::Light => is_dark,
        }
    };
    let mut text = String::with_capacity((size + 1) * size.div_ceil(2) * 3);
    for y in (0..size).step_by(2) {
        for x in 0..size {
            // Past the last row (an odd size) the background shows: light.
            let bottom = if y + 1 < size {
                inked(x, y + 1)
            } else {
                theme == TerminalTheme::Dark
            };
            text.push(match (inked(x, y), bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        text.push('\n');
    }
    Ok(text)
}

/// The QR code as a PNG image: black on white, 8 pixels per module, quiet
/// zone included.
pub fn qr_png(code: &str) -> Result<Vec<u8>, QrError> {
    let (dark, size) = modules(code)?;
    let side = size * PNG_SCALE;
    let mut pixels = Vec::with_capacity(side * side);
    for y in 0..side {
        for x in 0..side {
            let module = dark[(y / PNG_SCALE) * size + x / PNG_SCALE];
            pixels.push(if module { 0u8 } else { 255u8 });
        }
    }
    let failed = |reason: String| QrError::Encode { reason };
    let side = u32::try_from(side).map_err(|e| failed(e.to_string()))?;
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| failed(e.to_string()))?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| failed(e.to_string()))?;
    writer.finish().map_err(|e| failed(e.to_string()))?;
    Ok(png)
}

/// Writes [`qr_png`] to `path` (replacing it), readable by its owner only:
/// while it is valid, the code links a device.
pub fn write_qr_png(code: &str, path: &Path) -> Result<(), QrError> {
    let png = qr_png(code)?;
    super::store::write_private(path, &png).map_err(|e| QrError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_in_international_format_are_read_and_never_shown() {
        for text in ["+1 (555) 123-4567", "15551234567", " +44 7700.900123 "] {
            let phone = PhoneNumber::parse(text).unwrap();
            assert!(phone.digits().bytes().all(|b| b.is_ascii_digit()));
            assert_eq!(format!("{phone:?}"), "PhoneNumber(***)");
        }
        assert_eq!(
            PhoneNumber::parse("+1 (555) 123-4567").unwrap().digits(),
            "15551234567"
        );
        for bad in [
            "",
            "12345",
            "1234567890123456",
            "+1 555 CALL NOW",
            "1555#1234567",
        ] {
            let err = PhoneNumber::parse(bad).unwrap_err();
            assert_eq!(err, PhoneError::Malformed, "{bad}");
        }
        for national in ["07700900123", "0044 7700 900123"] {
            let err = PhoneNumber::parse(national).unwrap_err();
            assert_eq!(err, PhoneError::NotInternational, "{national}");
            assert!(!err.to_string().contains("7700"), "{err}");
        }
    }

    #[test]
    fn login_events_hide_their_codes_from_debug() {
        let qr = WhatsAppLogin::Qr {
            code: "2@SecretRef,key".into(),
            valid_for: Duration::from_secs(60),
        };
        let pairing = WhatsAppLogin::PairingCode {
            code: "SECR1234".into(),
            valid_for: Duration::from_secs(180),
        };
        let shown = format!("{qr:?} {pairing:?}");
        assert!(
            !shown.contains("SecretRef") && !shown.contains("SECR1234"),
            "{shown}"
        );
        // Control: the codes are there, for the host to show on purpose.
        assert!(matches!(&pairing, WhatsAppLogin::PairingCode { code, .. } if code == "SECR1234"));
    }

    #[test]
    fn the_terminal_code_has_the_quiet_zone_and_two_rows_per_line() {
        let text = qr_terminal("hello", TerminalTheme::Dark).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // Version 1: 21 modules, plus 4 on each side.
        assert_eq!(lines.len(), 29usize.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == 29));
        // The quiet zone is light: on a dark terminal, full blocks.
        assert!(lines[0].chars().all(|c| c == '█'), "{}", lines[0]);
        let light = qr_terminal("hello", TerminalTheme::Light).unwrap();
        assert!(light.lines().next().unwrap().chars().all(|c| c == ' '));
    }
}
