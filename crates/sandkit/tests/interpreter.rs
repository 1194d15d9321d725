//! `run_code` and code contexts through the core, against a real sandkitd's interpreter: the
//! events arrive as the code runs, state is kept per context, and the interpreter's refusals
//! are the official client's errors.

mod common;

use common::{TEAM_A_KEY, conn, start_server_with_sandboxes};
use sandkit::interpreter::{CodeEvent, ContextOpts, RunCodeOpts};
use sandkit::{ErrorKind, Sandbox, SandboxOpts};

fn opts(url: &str) -> SandboxOpts {
    let mut o = SandboxOpts::new();
    o.connection = conn(url, TEAM_A_KEY);
    o.connection.sandbox_url = Some(url.to_string());
    o
}

#[tokio::test]
async fn code_runs_with_kept_state_and_streamed_events() {
    let server = start_server_with_sandboxes().await;
    let sandbox = Sandbox::create(opts(&server.url())).await.unwrap();
    let interpreter = sandbox.interpreter();

    let set = interpreter
        .run_code("x = 40", RunCodeOpts::default())
        .await
        .unwrap();
    assert_eq!(set.collect().await.unwrap().error, None);
    let sum = interpreter
        .run_code("x + 2", RunCodeOpts::default())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(sum.text(), Some("42"));
    assert!(sum.execution_count.is_some_and(|n| n >= 2), "{sum:?}");

    // Output is an event of its own, before the execution ends.
    let mut run = interpreter
        .run_code("print('first', flush=True)\n1 / 0", RunCodeOpts::default())
        .await
        .unwrap();
    let mut stdout = String::new();
    let mut error = None;
    while let Some(event) = run.next_event().await.unwrap() {
        match event {
            CodeEvent::Stdout(t) => stdout.push_str(&t),
            CodeEvent::Error(e) => error = Some(e),
            _ => {}
        }
    }
    assert_eq!(stdout, "first\n");
    let error = error.expect("an error event");
    assert_eq!(
        (error.name.as_str(), error.value.as_str()),
        ("ZeroDivisionError", "division by zero")
    );

    // Contexts: their own state; an unknown or removed one is NotFound.
    let ctx = interpreter
        .create_context(ContextOpts::default())
        .await
        .unwrap();
    assert_eq!(
        (ctx.language.as_str(), ctx.cwd.as_str()),
        ("python", "/home/user")
    );
    let in_ctx = || RunCodeOpts {
        context_id: Some(ctx.id.clone()),
        ..Default::default()
    };
    let unset = interpreter
        .run_code("x", in_ctx())
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(unset.error.map(|e| e.name), Some("NameError".into()));
    let listed = interpreter.list_contexts().await.unwrap();
    assert!(listed.iter().any(|c| c.id == ctx.id), "{listed:?}");
    interpreter.remove_context(&ctx.id).await.unwrap();
    let gone = interpreter.run_code("1", in_ctx()).await.unwrap();
    let e = gone.collect().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Context and language together are refused before anything is sent.
    let both = RunCodeOpts {
        context_id: Some("c".into()),
        language: Some("python".into()),
        ..Default::default()
    };
    let e = interpreter.run_code("1", both).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);

    // A language the server refuses: the status, and the server's reason after it.
    let unknown = RunCodeOpts {
        language: Some("cobol-from-mars".into()),
        ..Default::default()
    };
    let e = match interpreter.run_code("1", unknown).await {
        Ok(run) => run.collect().await.unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::Sandbox, "{e}");
    assert!(
        e.message().starts_with("400 Bad Request: ") && e.message().contains("cobol-from-mars"),
        "{e}"
    );

    // A runaway execution ends at its timeout.
    let runaway = RunCodeOpts {
        timeout_ms: Some(1_000),
        ..Default::default()
    };
    let run = interpreter
        .run_code("while True: pass", runaway)
        .await
        .unwrap();
    let e = run.collect().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(sandbox.kill().await.unwrap());
}
