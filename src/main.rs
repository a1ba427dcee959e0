//! Entry point: everything lives in the library so tests and benches can reach the pure parts.
fn main() {
    std::process::exit(newrelic_lambda_extension::run());
}
