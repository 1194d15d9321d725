# sandkitd's R context driver, run as `R -e` from the environment variable it names. It reads
# one request at a time on stdin: a line of decimal byte lengths (the code, then each variable's
# name and value), then those bytes. The code runs in the global environment, kept between
# requests, one top-level expression at a time as R's console runs it. As IRkernel (E2B's R
# kernel) shows them: what an expression prints is one stdout piece when it ends, a warning or
# a message stderr, each visible value a result (not the main result), each plot a PNG result.
# Protocol lines (a 0x1E byte, one JSON object, a newline) say so on fd 1; each request ends
# with {"type":"done"} on fd 1 and fd 2.
local({
  MARK <- "\036"
  B64 <- strsplit("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", "")[[1]]
  input <- file("stdin", open = "rb")
  # Protocol lines go through connections of their own, so a user's sink() does not take them.
  out <- file("/dev/fd/1", open = "wb", raw = TRUE)
  err <- file("/dev/fd/2", open = "wb", raw = TRUE)
  Sys.unsetenv("SANDKIT_R_DRIVER")
  # install.packages() without a mirror chosen would ask for one, which nobody can answer here.
  if (identical(unname(getOption("repos")["CRAN"]), "@CRAN@")) {
    options(repos = c(CRAN = "https://cloud.r-project.org"))
  }

  json_str <- function(s) {
    s <- enc2utf8(paste(as.character(s), collapse = ""))
    # Bytes that are not UTF-8 (a raw vector printed as text) become U+FFFD.
    if (!validUTF8(s)) s <- iconv(s, "UTF-8", "UTF-8", sub = "\uFFFD")
    s <- gsub("\\", "\\\\", s, fixed = TRUE)
    s <- gsub("\"", "\\\"", s, fixed = TRUE)
    s <- gsub("\n", "\\n", s, fixed = TRUE)
    s <- gsub("\r", "\\r", s, fixed = TRUE)
    s <- gsub("\t", "\\t", s, fixed = TRUE)
    if (grepl("[\001-\037]", s, useBytes = TRUE)) {
      for (code in 1:31) {
        s <- gsub(intToUtf8(code), sprintf("\\u%04x", code), s, fixed = TRUE)
      }
    }
    paste0("\"", s, "\"")
  }

  # fields: a named list of JSON texts already encoded.
  emit <- function(fields, con = out) {
    # What R itself has buffered goes first, so that the order is kept.
    flush(stdout())
    flush(stderr())
    body <- paste0(vapply(names(fields), json_str, ""), ":", unlist(fields), collapse = ",")
    writeBin(charToRaw(paste0(MARK, "{", body, "}\n")), con)
    flush(con)
  }

  b64 <- function(bytes) {
    n <- length(bytes)
    if (n == 0) return("")
    pad <- (3 - n %% 3) %% 3
    m <- matrix(as.integer(c(bytes, as.raw(rep(0L, pad)))), nrow = 3)
    v <- m[1, ] * 65536 + m[2, ] * 256 + m[3, ]
    idx <- rbind(v %/% 262144, (v %/% 4096) %% 64, (v %/% 64) %% 64, v %% 64)
    chars <- B64[as.vector(idx) + 1]
    if (pad > 0) chars[(length(chars) - pad + 1):length(chars)] <- "="
    paste(chars, collapse = "")
  }

  result <- function(text, png = NULL, html = NULL) {
    fields <- list(type = json_str("result"), is_main_result = "false", text = json_str(text))
    if (!is.null(png)) fields$png <- json_str(png)
    if (!is.null(html)) fields$html <- json_str(html)
    emit(fields)
  }

  # A data frame or a matrix is also an HTML table, as IRkernel's repr gives one: its first
  # rows (60 at most), then a row that says how many more there are.
  MAX_ROWS <- 60
  html_table <- function(x) {
    if (!is.data.frame(x) && !is.matrix(x)) return(NULL)
    esc <- function(v) {
      v <- gsub("&", "&amp;", v, fixed = TRUE)
      v <- gsub("<", "&lt;", v, fixed = TRUE)
      gsub(">", "&gt;", v, fixed = TRUE)
    }
    if (nrow(x) == 0 || ncol(x) == 0) return(NULL)
    shown <- utils::head(x, MAX_ROWS)
    cells <- as.matrix(format(as.data.frame(shown, stringsAsFactors = FALSE)))
    # A matrix without names is labelled as print labels it.
    names <- if (is.null(colnames(x))) sprintf("[,%d]", seq_len(ncol(cells))) else colnames(x)
    row_names <- if (is.null(rownames(shown))) sprintf("[%d,]", seq_len(nrow(cells))) else rownames(shown)
    head <- paste0("<tr><th></th>", paste0("<th>", esc(names), "</th>", collapse = ""), "</tr>")
    rows <- vapply(seq_len(nrow(cells)), function(i) {
      paste0("<tr><th>", esc(row_names[[i]]), "</th>", paste0("<td>", esc(trimws(cells[i, ])), "</td>", collapse = ""), "</tr>")
    }, "")
    more <- nrow(x) - nrow(cells)
    if (more > 0) rows <- c(rows, sprintf("<tr><td colspan=\"%d\">… %d more row%s</td></tr>", ncol(cells) + 1, more, if (more == 1) "" else "s"))
    paste0("<table class=\"dataframe\">\n<thead>", head, "</thead>\n<tbody>\n",
           paste(rows, collapse = "\n"), "\n</tbody>\n</table>")
  }

  # Plots: the device R opens for a plot is a PNG file in this execution's directory, one file
  # a page; they are sent as results when the execution ends.
  plots <- new.env()
  plots$dir <- NULL
  plots$devices <- integer(0)
  options(device = function(...) {
    if (is.null(plots$dir)) {
      plots$dir <- tempfile("sandkit-plots-")
      dir.create(plots$dir)
    }
    name <- sprintf("d%03d-%%03d.png", length(plots$devices) + 1)
    grDevices::png(file.path(plots$dir, name), width = 7, height = 7, units = "in", res = 120,
                   type = "cairo")
    plots$devices <- c(plots$devices, grDevices::dev.cur())
  })
  send_plots <- function() {
    for (d in plots$devices) {
      if (d %in% grDevices::dev.list()) grDevices::dev.off(d)
    }
    plots$devices <- integer(0)
    if (is.null(plots$dir)) return()
    for (f in sort(list.files(plots$dir, full.names = TRUE))) {
      result("plot without title", b64(readBin(f, "raw", file.info(f)$size)))
    }
    unlink(plots$dir, recursive = TRUE)
    plots$dir <- NULL
  }

  ours <- quote(eval(expr, .GlobalEnv))
  error <- function(e, calls) {
    # An error of a top-level expression is R's console's "Error: ...", not ours.
    if (identical(conditionCall(e), ours)) e$call <- NULL
    value <- paste0(sub("\n$", "", toString(e)), "\n")
    calls <- vapply(calls, function(cl) paste(deparse(cl), collapse = "\n"), "")
    trace <- if (length(calls)) paste0(seq_along(calls), ". ", calls, "\n", collapse = "") else ""
    emit(list(type = json_str("error"), name = json_str("ERROR"), value = json_str(value),
              traceback = json_str(paste0(value, "Traceback:\n", trace))))
  }

  # What an expression prints is sent when it ends, as one piece, as IRkernel sends it (R
  # writes a vector's index and its values separately). A program it starts writes to fd 1
  # itself, as it goes. A sink() of the user's that outlives the expression is left on top of
  # ours (sinks are a stack): ours is held until the user's is closed.
  held <- new.env()
  held$sink <- NULL
  finish <- function(h) {
    close(h$con)
    printed <- if (file.exists(h$path)) readChar(h$path, file.size(h$path), useBytes = TRUE) else ""
    unlink(h$path)
    if (length(printed) && nzchar(printed)) {
      Encoding(printed) <- "UTF-8"
      emit(list(type = json_str("stdout"), text = json_str(printed)))
    }
  }
  release <- function() {
    h <- held$sink
    if (is.null(h) || sink.number() > h$depth) return(invisible())
    if (sink.number() == h$depth) sink()
    held$sink <- NULL
    finish(h)
  }
  capture <- function(body) {
    if (!is.null(held$sink)) return(body())
    path <- tempfile("sandkit-out-")
    con <- file(path, open = "w+")
    sink(con)
    h <- list(con = con, path = path, depth = sink.number())
    on.exit({
      held$sink <- h
      release()
    })
    body()
  }

  run_one <- function(expr) {
    calls <- list()
    failed <- FALSE
    tryCatch(
      withCallingHandlers(
        {
          shown <- capture(function() withVisible(eval(expr, .GlobalEnv)))
          if (shown$visible) {
            text <- paste(utils::capture.output(print(shown$value)), collapse = "\n")
            result(text, html = tryCatch(html_table(shown$value), error = function(e) NULL))
          }
        },
        error = function(e) {
          # The calls between our eval and the handler's own frames are the user's.
          stack <- sys.calls()
          at <- Position(function(cl) identical(cl, ours), stack, right = TRUE)
          stack <- if (is.na(at)) list() else stack[-seq_len(at)]
          calls <<- utils::head(stack, -2)
        },
        warning = function(w) {
          call <- conditionCall(w)
          where <- if (is.null(call) || identical(call, ours)) "" else paste0("In ", deparse(call)[[1]], ": ")
          cat(sprintf("Warning message:\n%s%s\n", where, conditionMessage(w)), file = stderr())
          invokeRestart("muffleWarning")
        },
        message = function(m) {
          cat(conditionMessage(m), file = stderr())
          invokeRestart("muffleMessage")
        }
      ),
      error = function(e) {
        failed <<- TRUE
        error(e, calls)
      }
    )
    !failed
  }

  run <- function(code) {
    exprs <- tryCatch(parse(text = code, keep.source = FALSE), error = function(e) e)
    if (inherits(exprs, "error")) {
      error(simpleError(conditionMessage(exprs)), list())
      return(invisible())
    }
    for (expr in exprs) {
      ok <- run_one(expr)
      release()
      if (!ok) break
    }
  }

  with_env <- function(env, body) {
    if (length(env)) {
      saved <- Sys.getenv(names(env), unset = NA, names = TRUE)
      do.call(Sys.setenv, as.list(env))
      on.exit({
        for (k in names(saved)) {
          if (is.na(saved[[k]])) Sys.unsetenv(k) else do.call(Sys.setenv, stats::setNames(list(saved[[k]]), k))
        }
      })
    }
    body()
  }

  read_request <- function() {
    header <- readLines(input, n = 1, warn = FALSE)
    if (length(header) == 0) return(NULL)
    sizes <- as.numeric(strsplit(header, " ", fixed = TRUE)[[1]])
    text <- function(n) {
      if (n == 0) return("")
      s <- rawToChar(readBin(input, "raw", n))
      Encoding(s) <- "UTF-8"
      s
    }
    code <- text(sizes[[1]])
    env <- character(0)
    rest <- sizes[-1]
    for (i in seq_len(length(rest) %/% 2)) {
      name <- text(rest[[2 * i - 1]])
      env[[name]] <- text(rest[[2 * i]])
    }
    list(code = code, env = env)
  }

  repeat {
    # An interrupt while waiting for a request means nothing.
    req <- tryCatch(read_request(), interrupt = function(i) FALSE)
    if (is.null(req)) break
    if (isFALSE(req)) next
    tryCatch(
      with_env(req$env, function() run(req$code)),
      interrupt = function(i) {
        emit(list(type = json_str("error"), name = json_str("ExecutionAborted"),
                  value = json_str("Execution was aborted"), traceback = json_str("")))
      }
    )
    tryCatch(send_plots(), error = function(e) NULL)
    emit(list(type = json_str("done")))
    emit(list(type = json_str("done")), err)
  }
})
