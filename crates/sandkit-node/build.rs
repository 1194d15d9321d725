fn main() {
    napi_build::setup();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let abi = std::env::var("CARGO_CFG_TARGET_ABI").unwrap_or_default();
    // A macOS dylib records its own path as its install name; the linker's default is the
    // build directory's. An addon is loaded by path, so give it a neutral one instead.
    if os == "macos" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/sandkit.node");
    }
    // Windows on arm64 is linked by zig, which drops the export list rustc hands the linker;
    // lld would then export every symbol. Give it the one Node looks for, as an input file.
    if os == "windows" && abi == "llvm" {
        let def = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("exports.def");
        std::fs::write(&def, "EXPORTS\n    napi_register_module_v1\n").unwrap();
        println!("cargo:rustc-cdylib-link-arg={}", def.display());
    }
}
