//! `sqlx::migrate!` embeds the migrations at compile time, but stable Rust
//! cannot tell cargo to watch a directory from a macro: without this, a new
//! migration file would not rebuild the crate and would silently not run.

fn main() {
    println!("cargo::rerun-if-changed=../migrations");
}
