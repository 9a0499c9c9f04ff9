//! The browser host: hydrates the server-rendered `app::App`, once the code
//! of the page shown (fetched on its own when the build is split) is here.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
