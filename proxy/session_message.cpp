// Session, the message path: what happens between the client's last DATA byte and
// our final reply. receive_message reads the data under every limit (the SMTP side of
// it is in session.cpp); finish_message runs the end-of-data filters and acts on
// policy's one outcome (policy/outcome.hpp): our refusal, the quarantine, or the MX.
#include <spdlog/spdlog.h>

#include "base/work_pool_await.hpp"
#include "policy/outcome.hpp"
#include "proxy/data_reader.hpp"
#include "proxy/downstream.hpp"
#include "proxy/replies.hpp"
#include "proxy/session.hpp"
#include "proxy/stream.hpp"

namespace mxgate {

// The message itself, read to the end of the data with every limit applied; null
// (answered and logged) if it is refused or the session ends.
Task<std::shared_ptr<const Message>> Session::receive_message(BufferCharge& charge) {
  const Limits& lim = cfg_->limits;
  DataReader reader({lim.max_message_bytes, lim.max_header_bytes, lim.max_line_length,
                     cfg_->bare_line_endings == BareLineEndings::Normalize, cfg_->reject_long_lines});
  // Once the header section is in, filters may start what end of data will need
  // (DKIM key lookups), while the body is still arriving.
  bool headers_told = cfg_->chain->empty();
  auto tell_headers = [&](const DataReader& r) {
    if (headers_told || !r.header_complete() || r.content().empty()) return;
    headers_told = true;
    std::string_view c = r.content();
    if (auto end = c.find("\r\n\r\n"); end != std::string_view::npos) c = c.substr(0, end + 4);
    auto headers = std::make_shared<const Message>(std::string(c));
    cfg_->chain->headers_arrived(stream_->socket().get_executor(), snapshot(), std::move(headers));
  };
  auto progress = [&](DataReader& r) {
    charge.update(r);
    tell_headers(r);
  };
  auto t0 = Clock::now();
  const std::chrono::milliseconds data_timeout =
      ctx_->stressed ? std::min(lim.data_timeout, lim.stress_command_timeout) : lim.data_timeout;
  const DataEnd end = co_await read_data(*stream_, inbuf_, reader, data_timeout, lim.min_data_rate, progress);
  if (end != DataEnd::Done) {
    if (end == DataEnd::TimedOut) {
      ctx_->counters.data_timeouts++;
      spdlog::info("{} timeout in DATA from {} after {} bytes", env_.session_id, env_.client.ip,
                   reader.raw_bytes());
      const SmtpReply r = timed_out_reply();
      co_await close_with(r);
      end_transaction("aborted", "timeout in DATA");
    } else if (aborting_) {
      const SmtpReply bye = shutting_down();
      co_await close_with(bye);
      end_transaction("aborted", "shutdown deadline in DATA");
    } else {
      closing_ = true;
      end_transaction("aborted", "connection lost in DATA");
    }
    co_return nullptr;
  }
  txn_.data_ms = ms_since(t0);
  txn_.size = reader.content_bytes();
  if (auto problem = reader.problem(); problem != DataReader::Problem::None) {
    // One row per way a message can fail while it is read: the counter, our reply,
    // and the log verdict. The reply comes only now, at the real end of the data.
    struct Row {
      DataReader::Problem problem;
      std::atomic<std::uint64_t> Counters::*counter;
      const SmtpReply* reply;
      const char* verdict;
    };
    static const Row kRows[] = {
        {DataReader::Problem::NoMemory, &Counters::buffer_budget_exhausted, &replies::kNoStorage, "tempfail"},
        {DataReader::Problem::TooBig, &Counters::message_too_big, &replies::kMessageTooBig, "reject"},
        {DataReader::Problem::HeaderTooBig, &Counters::header_too_big, &replies::kHeaderTooBig, "reject"},
        {DataReader::Problem::LineTooLong, &Counters::line_too_long, &replies::kTextLineTooLong, "reject"},
        {DataReader::Problem::BareLineEnding, &Counters::bare_line_endings, &replies::kBareLineEnding, "reject"},
    };
    for (const Row& row : kRows) {
      if (row.problem != problem) continue;
      ++(ctx_->counters.*row.counter);
      if (problem == DataReader::Problem::BareLineEnding)
        spdlog::warn("{} bare CR/LF x{} in DATA from {} (SMTP smuggling?)", env_.session_id,
                     reader.bare_count(), env_.client.ip);
      else if (problem == DataReader::Problem::NoMemory)
        spdlog::warn("{} smtp.max_buffered_bytes reached: message from {} tempfailed", env_.session_id,
                     env_.client.ip);
      error(*row.reply);
      end_transaction(row.verdict, row.reply->str());
      co_return nullptr;
    }
  }
  if (reader.bare_count()) {
    ctx_->counters.bare_line_endings++;
    txn_.symbols.push_back({"BARE_LINE_ENDING_NORMALIZED", 0.0, std::to_string(reader.bare_count())});
  }
  if (auto s = long_lines_symbol(reader.long_line_count(), lim.max_line_length)) {
    // Kept and passed on unchanged (smtp.long_lines: accept): counted, never refused.
    ctx_->counters.long_lines++;
    txn_.long_lines = reader.long_line_count();
    txn_.symbols.push_back(*s);
    txn_.evidence.symbols.push_back(*s);
  }

  co_return std::make_shared<const Message>(reader.take());
}

// End of data: the filters, then policy's outcome (policy/outcome.hpp), then the MX
// or the quarantine.
Task<void> Session::finish_message(const std::shared_ptr<const Message>& msg) {
  auto tf = Clock::now();
  ChainResult cr;
  if (!cfg_->chain->empty()) {
    const std::shared_ptr<const Mailbox> no_rcpt;
    cr = co_await cfg_->chain->run(Stage::EndOfData, snapshot(), no_rcpt, msg);
  }
  txn_.filter_ms = ms_since(tf);
  note_symbols(cr);
  count_filter_trouble(cr);
  // Everything the filters said, from connect on, counts for this message; what
  // it means for the message is policy's answer (policy/outcome.hpp).
  Evidence earlier = session_evidence();
  earlier.add(txn_.evidence);
  const OutcomeSettings settings{cfg_->policy.get(), cfg_->authserv_id, cfg_->quarantine_store != nullptr,
                                 !cfg_->chain->empty()};
  const Outcome out = finish(settings, cr, earlier, message_facts(env_, &env_.state->auth, *msg), *msg);
  const Decision& d = out.decision;
  txn_.score = d.score;
  txn_.required = d.required;
  txn_.header_from = out.log.header_from;
  txn_.subject = out.log.subject;
  txn_.message_id = out.log.message_id;
  txn_.auth_results = out.log.authentication_results;
  if (!d.reason.empty()) txn_.decided_by = d.reason;
  if (d.action == Action::Reject || d.action == Action::Tempfail) {
    const SmtpReply r = d.reply ? *d.reply
                                : (d.action == Action::Reject ? replies::kPolicyReject
                                                              : replies::kPolicyTempfail);
    if (d.action == Action::Reject) ctx_->counters.messages_rejected++;
    else ctx_->counters.messages_tempfailed++;
    error(r);
    if (d.action == Action::Reject) tell_outcome(d, Action::Reject, msg);
    end_transaction(d.verdict(), r.str());
    co_return;
  }
  txn_.symbols.insert(txn_.symbols.end(), out.log.notes.begin(), out.log.notes.end());
  if (d.action == Action::Quarantine) {
    co_await quarantine_message(out, msg);
    co_return;
  }
  const std::string prefix = out.prepend_wire();
  const std::string& body_out = out.body(*msg);
  auto td = Clock::now();
  SmtpReply up = co_await down_->send_data(prefix, body_out);
  txn_.downstream_ms = ms_since(td);
  txn_.downstream_reply = down_->last_reply();
  if (up.is_2xx()) {
    ctx_->counters.messages_delivered++;
    if (d.tagged()) ctx_->counters.messages_tagged++;
    reply(up);
    tell_outcome(d, Action::Accept, msg);
    end_transaction(d.verdict(), up.str());
  } else {
    if (down_->broken()) ctx_->counters.downstream_failures++;
    error(up);
    end_transaction(up.transient() ? "tempfail" : "reject", up.str());
  }
}

Task<void> Session::quarantine_message(const Outcome& out, const std::shared_ptr<const Message>& msg_ptr) {
  const Message& msg = *msg_ptr;
  auto store = cfg_->quarantine_store;
  auto rec = std::make_shared<QuarantineRecord>(quarantine_record(env_, out, msg));
  const Decision& d = out.decision;
  auto data = std::make_shared<std::string>(out.prepend_wire() + out.body(msg));
  auto why = std::make_shared<std::string>();
  const std::function<bool()> job = [store, rec, data, why]() { return store->store(*rec, *data, why.get()); };
  // The store writes and fsyncs on the work pool, so a slow disk never stalls the
  // other sessions of this worker; the client hears 250 only once the message file
  // and its index row are durable.
  auto td = Clock::now();
  std::optional<bool> stored;
  if (cfg_->work_pool) stored = co_await on_pool<bool>(*cfg_->work_pool, job);
  else stored = job();
  txn_.downstream_ms = ms_since(td);
  if (!stored) {
    spdlog::warn("{} quarantine queue full: message from {} tempfailed", env_.session_id, env_.client.ip);
    ctx_->counters.messages_tempfailed++;
    error(replies::kQuarantineBusy);
    end_transaction("tempfail", replies::kQuarantineBusy.str());
    co_return;
  }
  if (!*stored) {
    spdlog::error("{} quarantine store failed: {}", env_.session_id, *why);
    ctx_->counters.quarantine_failures++;
    ctx_->counters.messages_tempfailed++;
    error(replies::kQuarantineFailed);
    end_transaction("tempfail", replies::kQuarantineFailed.str());
    co_return;
  }
  // The downstream saw MAIL and RCPT but gets no DATA: retire() sends QUIT, and
  // the MX drops the transaction.
  ctx_->counters.messages_quarantined++;
  txn_.quarantine_id = rec->id;
  spdlog::info("{} quarantined as {} ({})", env_.session_id, rec->id, d.reason);
  const SmtpReply ok{250, "2.0.0", "Ok: queued as " + rec->id};
  reply(ok);
  tell_outcome(d, Action::Quarantine, msg_ptr);
  end_transaction("quarantine", ok.str());
}

// The filters hear the outcome once it is final for the client (the classifier may
// learn from it): a refusal, a stored quarantine copy, the MX's 250. Before
// end_transaction, which clears what the filters read (the envelope, the MIME view).
void Session::tell_outcome(const Decision& d, Action final_action, const std::shared_ptr<const Message>& msg) {
  MessageOutcome mo;
  mo.action = final_action;
  mo.score = d.score;
  mo.symbols = &d.symbols;
  mo.decided_by = d.reason;
  cfg_->chain->outcome(env_, msg, mo);
}

}  // namespace mxgate
