//! The committed `include/ringbus.h` is what cbindgen generates from the sources now (the
//! build script writes it to OUT_DIR), and its version macros match the crate's version.

#[test]
fn committed_header_matches_the_generated_one() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/ringbus.h")).expect("build.rs wrote it");
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/ringbus.h")).expect("committed");
    assert!(
        generated == committed,
        "ffi/include/ringbus.h is stale: copy {}/ringbus.h over it (the C API changed)",
        env!("OUT_DIR")
    );
}

#[test]
fn version_macros_match_the_crate() {
    let header = include_str!("../include/ringbus.h");
    let macro_value = |name: &str| -> u32 {
        let line = header.lines().find(|l| l.starts_with(&format!("#define {name} "))).expect(name);
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let version = (macro_value("RB_VERSION_MAJOR") << 16)
        | (macro_value("RB_VERSION_MINOR") << 8)
        | macro_value("RB_VERSION_PATCH");
    let part = |s: &str| s.parse::<u32>().unwrap();
    let crate_version = (part(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (part(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | part(env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(version, crate_version, "RB_VERSION_* in cbindgen.toml and the crate version differ");
}
