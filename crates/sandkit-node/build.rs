fn main() {
    napi_build::setup();
    // A macOS dylib records its own path as its install name; the linker's default is the
    // build directory's. An addon is loaded by path, so give it a neutral one instead.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-install_name,@rpath/sandkit.node");
    }
}
