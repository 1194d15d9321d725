//! The languages a context may run, as the official server names them.

/// A kernel sandkitd can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Python,
    JavaScript,
    Bash,
    R,
    Java,
}

/// Trimmed and lowercased, `js` and `ts` spelled out, `python` when missing: what the
/// official server does before it picks a kernel.
pub fn normalize(language: Option<&str>) -> String {
    let lang = language.unwrap_or("").trim().to_lowercase();
    match lang.as_str() {
        "" => "python".into(),
        "js" => "javascript".into(),
        "ts" => "typescript".into(),
        _ => lang,
    }
}

/// The kernel of a normalized language; TypeScript runs on the JavaScript kernel, which strips
/// its types.
pub fn kernel_of(language: &str) -> Result<Kernel, String> {
    match language {
        "python" => Ok(Kernel::Python),
        "javascript" | "typescript" => Ok(Kernel::JavaScript),
        "bash" => Ok(Kernel::Bash),
        "r" => Ok(Kernel::R),
        "java" => Ok(Kernel::Java),
        other => Err(format!(
            "unsupported language {other:?}: sandkitd runs python, javascript (js), typescript (ts), bash, r and java"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_as_the_official_server() {
        assert_eq!(normalize(None), "python");
        assert_eq!(normalize(Some("  JS ")), "javascript");
        assert_eq!(normalize(Some("ts")), "typescript");
        assert_eq!(normalize(Some("Bash")), "bash");
        assert_eq!(kernel_of("typescript"), Ok(Kernel::JavaScript));
        assert_eq!(normalize(Some("R")), "r");
        assert_eq!(kernel_of("r"), Ok(Kernel::R));
        assert_eq!(kernel_of("java"), Ok(Kernel::Java));
        assert!(kernel_of("cobol").unwrap_err().contains("cobol"));
    }
}
