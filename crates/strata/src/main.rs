//! The `strata` binary: command-line interface and daemon wiring.

fn main() {
    println!("strata");
}
