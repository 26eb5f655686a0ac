// sqlx::migrate! embeds the migrations at compile time; without this, a newly
// added migration file would not rebuild the server.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
