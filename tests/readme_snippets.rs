//! Every ```c and ```cpp block of README.md is a whole file a reader can
//! save and build: each is compiled with gcc and clang (C11) or g++ and
//! clang++ (C++17) at -Wall -Wextra -Wpedantic -Werror against the
//! committed header (and bindings/cpp/mailtls.hpp), and each one with a
//! main() is linked against the libmailtls.so Cargo built with this test, so
//! a misspelt function, a changed signature or a warning fails here. There
//! are no fragments to wrap: a block that is not a translation unit fails.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    C,
    Cpp,
}

impl Language {
    fn extension(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }

    fn flags(self) -> &'static [&'static str] {
        match self {
            Language::C => &["-std=c11", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", "include"],
            Language::Cpp => {
                &["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", "include", "-I", "bindings/cpp"]
            }
        }
    }
}

/// A fenced block: its language and the README line of its opening fence.
#[derive(Debug)]
struct Block {
    language: Language,
    fence_line: usize,
    code: String,
}

impl Block {
    fn is_program(&self) -> bool {
        self.code.lines().any(|line| line.starts_with("int main("))
    }
}

/// Fence tags a reader would take for C or C++ but that are not compiled
/// here: refused, so that no snippet escapes the check by its tag.
const UNCHECKED_C_TAGS: [&str; 7] = ["C", "h", "c++", "cc", "cxx", "hpp", "c++17"];

/// The ```c and ```cpp blocks of a Markdown text, in order.
fn blocks(markdown: &str) -> Result<Vec<Block>, String> {
    let mut found = Vec::new();
    // (language if compiled, fence line, code) of the block being read.
    let mut open: Option<(Option<Language>, usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(tag)) => {
                let tag = tag.trim();
                if UNCHECKED_C_TAGS.contains(&tag) {
                    return Err(format!(
                        "README.md line {}: a ```{tag} block is not compiled by this test: tag it ```c or ```cpp",
                        index + 1
                    ));
                }
                let language = match tag {
                    "c" => Some(Language::C),
                    "cpp" => Some(Language::Cpp),
                    _ => None,
                };
                open = Some((language, index + 1, String::new()));
            }
            (Some((language, fence_line, code)), Some(_)) => {
                if let Some(language) = *language {
                    found.push(Block { language, fence_line: *fence_line, code: std::mem::take(code) });
                }
                open = None;
            }
            (Some((_, _, code)), None) => {
                code.push_str(line);
                code.push('\n');
            }
            (None, None) => {}
        }
    }
    match open {
        Some((_, fence_line, _)) => Err(format!("README.md line {fence_line}: the block is never closed")),
        None => Ok(found),
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme_blocks() -> Vec<Block> {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("read README.md");
    blocks(&readme).unwrap_or_else(|problem| panic!("{problem}"))
}

/// The directory of the libmailtls.so that Cargo built for this test run:
/// Cargo builds every crate type of the library (cdylib included) as a
/// dependency of an integration test, in target/<profile>/deps beside this
/// test's executable, and copies it to target/<profile>.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    let deps = exe.parent().expect("the test executable's directory");
    for dir in [deps, deps.parent().unwrap_or(deps)] {
        if dir.join("libmailtls.so").is_file() {
            return dir.to_path_buf();
        }
    }
    panic!("no libmailtls.so in {} or its parent: build it with `cargo build --lib`", deps.display());
}

fn run(command: &mut Command) -> Result<(), String> {
    match command.output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            Err(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
        }
        Err(e) => Err(format!(
            "cannot run {:?}: {e} (bash tests/install-deps.sh installs gcc, g++ and clang)",
            command.get_program()
        )),
    }
}

/// Compile `block` with `compiler` in `out`, and link it if it is a
/// program. The source starts with a #line directive, so the compiler's
/// messages name README.md and its lines.
fn build(compiler: &str, block: &Block, out: &Path) -> Result<(), String> {
    let name = format!("readme-line-{}", block.fence_line);
    let source = out.join(format!("{name}.{}", block.language.extension()));
    let object = out.join(format!("{name}.o"));
    std::fs::write(&source, format!("#line {} \"README.md\"\n{}", block.fence_line + 1, block.code))
        .expect("write the snippet");
    let failed = |step: &str, log: String| {
        format!(
            "the ```{} block at README.md line {} does not {step} with {compiler}:\n{log}",
            block.language.extension(),
            block.fence_line
        )
    };
    run(Command::new(compiler)
        .current_dir(repo())
        .args(block.language.flags())
        .arg("-c")
        .arg(&source)
        .arg("-o")
        .arg(&object))
    .map_err(|log| failed("compile", log))?;
    if block.is_program() {
        run(Command::new(compiler)
            .arg(&object)
            .arg("-o")
            .arg(out.join(&name))
            .arg("-L")
            .arg(library_dir())
            .arg("-lmailtls"))
        .map_err(|log| failed("link against libmailtls", log))?;
    }
    Ok(())
}

/// A fresh build directory per compiler, so the tests can run at once.
fn build_dir(compiler: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-snippets").join(compiler);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the build directory");
    dir
}

/// Build every README block of `language` with `compiler`; all failures at once.
fn check_readme(language: Language, compiler: &str) {
    let out = build_dir(compiler);
    let blocks: Vec<Block> = readme_blocks().into_iter().filter(|b| b.language == language).collect();
    assert!(!blocks.is_empty(), "README.md has no ```{} block", language.extension());
    let failures: Vec<String> = blocks.iter().filter_map(|block| build(compiler, block, &out).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn c_blocks_build_with_gcc() {
    check_readme(Language::C, "gcc");
}

#[test]
fn c_blocks_build_with_clang() {
    check_readme(Language::C, "clang");
}

#[test]
fn cpp_blocks_build_with_gpp() {
    check_readme(Language::Cpp, "g++");
}

#[test]
fn cpp_blocks_build_with_clangpp() {
    check_readme(Language::Cpp, "clang++");
}

/// README shows a whole program for fetching and one for sending, in C and
/// in C++ (issue 10's documentation list).
#[test]
fn readme_has_fetch_and_send_programs_in_c_and_cpp() {
    let blocks = readme_blocks();
    let has =
        |language, call: &str| blocks.iter().any(|b| b.language == language && b.is_program() && b.code.contains(call));
    assert!(has(Language::C, "mailtls_pop3_retr"), "README.md has no C program that fetches");
    assert!(has(Language::C, "mailtls_smtp_send"), "README.md has no C program that sends");
    assert!(has(Language::Cpp, "pop3.retr("), "README.md has no C++ program that fetches");
    assert!(has(Language::Cpp, "smtp.send("), "README.md has no C++ program that sends");
}

// The check itself: what it must refuse.

/// The log of building `code` as a README block at line 41 with gcc, in a
/// directory of the test's own.
fn fails_with_gcc(test: &str, code: &str) -> String {
    let block = Block { language: Language::C, fence_line: 41, code: code.to_owned() };
    build("gcc", &block, &build_dir(test)).expect_err("the broken snippet was accepted")
}

#[test]
fn a_snippet_that_does_not_compile_fails_naming_its_readme_line() {
    let log = fails_with_gcc(
        "self-test-compile",
        "#include \"mailtls.h\"\nint main(void) { return mailtls_pop3_conect(NULL, \"h\", 0); }\n",
    );
    assert!(log.contains("README.md line 41 does not compile with gcc"), "{log}");
    // The #line directive: the compiler points at the README line itself.
    assert!(log.contains("README.md:43:"), "{log}");
}

#[test]
fn a_warning_fails() {
    let log = fails_with_gcc("self-test-warning", "int main(void) { int unused; return 0; }\n");
    assert!(log.contains("unused"), "{log}");
}

#[test]
fn a_function_the_library_lacks_fails_at_link() {
    let log = fails_with_gcc(
        "self-test-link",
        "int mailtls_no_such_function(void);\nint main(void) { return mailtls_no_such_function(); }\n",
    );
    assert!(log.contains("does not link against libmailtls with gcc"), "{log}");
    assert!(log.contains("mailtls_no_such_function"), "{log}");
}

#[test]
fn blocks_are_found_and_other_c_tags_refused() {
    let found = blocks("text\n```c\nint a;\n```\n```sh\nls\n```\n  ```cpp\nint b;\n  ```\n").unwrap();
    let seen: Vec<(Language, usize, &str)> =
        found.iter().map(|b| (b.language, b.fence_line, b.code.as_str())).collect();
    assert_eq!(seen, [(Language::C, 2, "int a;\n"), (Language::Cpp, 8, "int b;\n")]);
    assert!(blocks("```c++\nint a;\n```\n").unwrap_err().contains("tag it ```c or ```cpp"));
    assert!(blocks("```c\nint a;\n").unwrap_err().contains("never closed"));
}
