//! The browser host: hydrates the server-rendered `app::App`, once the code
//! of the page shown (fetched on its own when the build is split) is here.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}

/// Room for cargo-leptos's `--split` to give each lazy page its own data.
/// wasm-split lays the read-only data out again module by module, and when
/// that layout is longer than the linker's (alignment padding at each
/// module's start, strings LLVM merged that two modules both use) it gives
/// up and leaves all of it in the main module: every page's texts and
/// tables, 47 KB gzipped of the Contacts page's first load. This array is
/// kept by the linker (`#[used]`) but used by no module, so wasm-split never
/// copies it anywhere and its bytes are that room: a release build's layout
/// ran over by 772 bytes on 2026-12-05 (the debug build had room without
/// it). server/README ("First load") gives the check for "Overlong segment".
#[used]
static SPLIT_ROOM: [u8; 4096] = [0xA5; 4096];
