//! The `kube-reclaimer` binary: parses the command line, runs the command, prints what
//! it returns, or the error with its causes.

use clap::Parser;
use kube_reclaimer::app::cli::{execute, Cli};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(stdout) => {
            print!("{stdout}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {}", chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, leaving out causes already spelled out by the message
/// before them (many libraries repeat their source in their own message).
fn chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    let mut previous = text.clone();
    for cause in error.chain().skip(1) {
        let message = cause.to_string();
        if !previous.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        previous = message;
    }
    text
}
