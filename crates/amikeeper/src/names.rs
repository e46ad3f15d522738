//! AWS's rules for the names amikeeper writes to (SSM parameters, launch templates, Auto Scaling
//! groups, stacks), checked on a configured template once and on every rendered name.

use crate::template::NameTemplate;

/// The kinds of names amikeeper writes to, each with AWS's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// An SSM parameter name.
    Parameter,
    /// A launch template id.
    LaunchTemplateId,
    /// A launch template name.
    LaunchTemplateName,
    /// An Auto Scaling group name.
    AutoScalingGroup,
    /// A CloudFormation stack name.
    Stack,
}

/// The most levels an SSM parameter hierarchy may have.
const SSM_MAX_LEVELS: usize = 15;

/// Checks a rendered name: AWS's syntax for its kind, no path tricks, and, when any of it came
/// from a tag, one of the allowed prefixes.
pub fn check_name(kind: NameKind, name: &str, from_tag: bool, allowed_prefixes: &[String]) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.chars().any(char::is_control) {
        return Err("control characters".into());
    }
    if from_tag && !allowed_prefixes.iter().any(|p| name.starts_with(p.as_str())) {
        return Err(format!("a name from a tag must start with one of: {}", allowed_prefixes.join(", ")));
    }
    match kind {
        NameKind::Parameter => {
            if name.len() > 1011 {
                return Err("longer than SSM allows".into());
            }
            if !name.bytes().all(ssm_name_byte) {
                return Err(SSM_CHARSET.into());
            }
            if name.split('/').any(|segment| segment == ".." || segment == ".") || name.contains("//") {
                return Err("path segments `.`, `..` and empty ones are not allowed".into());
            }
            if name.contains('/') && !name.starts_with('/') {
                return Err("a hierarchical SSM name starts with `/`".into());
            }
            if name.len() > 1 && name.ends_with('/') {
                return Err("an SSM name does not end with `/`".into());
            }
            // SSM allows at most 15 levels below the root (`/a/b/.../o`).
            if name.matches('/').count() > SSM_MAX_LEVELS {
                return Err(format!("more than {SSM_MAX_LEVELS} levels, which SSM allows at most"));
            }
            if reserved_by_ssm(name) {
                return Err(SSM_RESERVED.into());
            }
        }
        NameKind::LaunchTemplateId => {
            let ok = name
                .strip_prefix("lt-")
                .is_some_and(|hex| !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()));
            if !ok {
                return Err("not a launch template id (`lt-` and hex digits)".into());
            }
        }
        NameKind::LaunchTemplateName => {
            if name.len() < 3 || name.len() > 128 {
                return Err("launch template names have 3 to 128 characters".into());
            }
            if !name.bytes().all(launch_template_name_byte) || name.contains("..") {
                return Err(LAUNCH_TEMPLATE_CHARSET.into());
            }
        }
        NameKind::AutoScalingGroup => {
            if name.len() > 255 {
                return Err("Auto Scaling group names have at most 255 characters".into());
            }
            if name.contains(':') {
                return Err("a group name (not an ARN) is expected".into());
            }
        }
        NameKind::Stack => {
            let mut bytes = name.bytes();
            let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
            if !first_ok || name.len() > 128 || !bytes.all(stack_name_byte) {
                return Err(STACK_CHARSET.into());
            }
        }
    }
    Ok(())
}

/// What SSM allows in a parameter name.
const SSM_CHARSET: &str = "SSM names use only a-z, A-Z, 0-9, `_`, `.`, `-` and `/`";
/// SSM's reserved names.
const SSM_RESERVED: &str = "names beginning with `aws` or `ssm` (in any case) are reserved by AWS";
/// What EC2 allows in a launch template name.
const LAUNCH_TEMPLATE_CHARSET: &str = "launch template names use a-z, A-Z, 0-9 and ( ) . - / _";
/// What CloudFormation allows in a stack name.
const STACK_CHARSET: &str = "stack names start with a letter and use a-z, A-Z, 0-9 and `-`";

fn ssm_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_.-/".contains(&b)
}

fn launch_template_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"().-/_".contains(&b)
}

fn stack_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// Whether SSM reserves a name beginning so: its first level starts with `aws` or `ssm`, in
/// any case (`/aws/...`, `/AWS...`, `ssm-x`).
fn reserved_by_ssm(start: &str) -> bool {
    let first = start.trim_start_matches('/').to_ascii_lowercase();
    first.starts_with("aws") || first.starts_with("ssm")
}

/// Checks a target's name template when the configuration loads, so that a name no event could
/// make safe is a configuration error rather than a refusal per event.
///
/// A literal name (no placeholder) gets every check [`check_name`] makes on a rendered name,
/// except the allow-list, which is for names a tag fills in. In a templated name the text
/// written around the placeholders is checked where it decides alone: characters the kind of
/// name never has, `.`/`..` or empty path segments, SSM's reserved `aws`/`ssm` beginning, a
/// stack name's first letter, lengths. When a tag fills a placeholder, the name's written
/// beginning must be able to start with one of `allowed_prefixes` (else every event would be
/// refused). What the placeholders fill in is still checked per event by [`check_name`].
pub fn check_template(kind: NameKind, template: &NameTemplate, allowed_prefixes: &[String]) -> Result<(), String> {
    // `{` never occurs in a template's written text (it opens a placeholder), so it marks
    // where a placeholder's value goes.
    const HOLE: char = '{';
    let Ok(skeleton) = template.render(|_| Some("{")) else { unreachable!("every placeholder has a value") };
    let Some(first_hole) = skeleton.find(HOLE) else {
        return check_name(kind, &skeleton, false, &[]);
    };
    let leading = &skeleton[..first_hole];
    let written: String = skeleton.chars().filter(|c| *c != HOLE).collect();
    if written.chars().any(char::is_control) {
        return Err("control characters".into());
    }
    if template.uses_tags()
        && !allowed_prefixes.is_empty()
        && !allowed_prefixes.iter().any(|p| leading.starts_with(p.as_str()) || p.starts_with(leading))
    {
        return Err(format!(
            "every name it makes starts with `{leading}`, which none of the allowed prefixes ({}) allows, \
             so every event would be refused",
            allowed_prefixes.join(", ")
        ));
    }
    match kind {
        NameKind::Parameter => {
            if !written.bytes().all(ssm_name_byte) {
                return Err(SSM_CHARSET.into());
            }
            let written_segment = |s: &&str| !s.contains(HOLE);
            if skeleton.contains("//") || skeleton.split('/').filter(written_segment).any(|s| s == "." || s == "..") {
                return Err("path segments `.`, `..` and empty ones are not allowed".into());
            }
            if !leading.is_empty() && reserved_by_ssm(leading) {
                return Err(SSM_RESERVED.into());
            }
            if !leading.is_empty() && !leading.starts_with('/') && written.contains('/') {
                return Err("a hierarchical SSM name starts with `/`".into());
            }
            if skeleton.ends_with('/') {
                return Err("an SSM name does not end with `/`".into());
            }
            if skeleton.matches('/').count() > SSM_MAX_LEVELS {
                return Err(format!("more than {SSM_MAX_LEVELS} levels, which SSM allows at most"));
            }
            if written.len() > 1011 {
                return Err("longer than SSM allows".into());
            }
        }
        NameKind::LaunchTemplateId => {
            let fits = "lt-".starts_with(leading)
                || leading.strip_prefix("lt-").is_some_and(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()));
            if !fits || !written.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err("not a launch template id (`lt-` and hex digits)".into());
            }
        }
        NameKind::LaunchTemplateName => {
            if !written.bytes().all(launch_template_name_byte) || written.contains("..") {
                return Err(LAUNCH_TEMPLATE_CHARSET.into());
            }
            if written.len() > 128 {
                return Err("launch template names have 3 to 128 characters".into());
            }
        }
        NameKind::AutoScalingGroup => {
            if written.contains(':') {
                return Err("a group name (not an ARN) is expected".into());
            }
            if written.len() > 255 {
                return Err("Auto Scaling group names have at most 255 characters".into());
            }
        }
        NameKind::Stack => {
            let first_ok = leading.bytes().next().is_none_or(|b| b.is_ascii_alphabetic());
            if !first_ok || written.len() > 128 || !written.bytes().all(stack_name_byte) {
                return Err(STACK_CHARSET.into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes() -> Vec<String> {
        vec!["/ami/".into()]
    }

    #[test]
    fn tag_names_outside_the_allow_list_are_refused() {
        for hostile in ["/aws/service/ami", "/ami/../aws/x", "/other/web", "/ami//x", "ami/web", "/ami/./x"] {
            assert!(check_name(NameKind::Parameter, hostile, true, &prefixes()).is_err(), "{hostile}");
        }
        assert!(check_name(NameKind::Parameter, "/ami/web", true, &prefixes()).is_ok());
    }

    #[test]
    fn reserved_ssm_prefixes_are_refused_even_from_config() {
        assert!(check_name(NameKind::Parameter, "/aws/x", false, &[]).is_err());
        assert!(check_name(NameKind::Parameter, "ssm-thing", false, &[]).is_err());
        assert!(check_name(NameKind::Parameter, "i-0123456789abcdef0", false, &[]).is_ok());
    }

    #[test]
    fn stack_and_template_syntax() {
        assert!(check_name(NameKind::Stack, "web-stack", false, &[]).is_ok());
        assert!(check_name(NameKind::Stack, "1web", false, &[]).is_err());
        assert!(check_name(NameKind::LaunchTemplateId, "lt-0abc", false, &[]).is_ok());
        assert!(check_name(NameKind::LaunchTemplateId, "lt-xyz", false, &[]).is_err());
    }
}
