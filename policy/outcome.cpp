#include "policy/outcome.hpp"

#include "filters/dmarc/dmarc.hpp"

namespace mxgate {

std::string Outcome::prepend_wire() const {
  std::string out;
  for (const auto& h : prepend) out += h.wire();
  return out;
}

MessageFacts message_facts(const Envelope& env, const AuthResults* auth, const Message& msg) {
  MessageFacts f;
  f.client = &env.client;
  f.sender = env.mail_from ? &*env.mail_from : nullptr;
  f.rcpts = &env.rcpts;
  f.auth = auth;
  // The authors as the dmarc filter parsed them for this transaction (or now).
  f.from_domain = single_author_domain(*authors_of(env, msg));
  if (f.from_domain.empty()) f.all_from_domains = domains_in_from(msg.fields("From"));
  return f;
}

Outcome finish(const OutcomeSettings& s, const ChainResult& end_of_data, const Evidence& earlier,
               const MessageFacts& facts, const Message& msg) {
  Outcome out;
  out.decision = decide(end_of_data, earlier, s.policy, facts, s.quarantine_available);
  const Decision& d = out.decision;

  if (const HeaderField* f = msg.first("From")) out.log.header_from = f->unfolded();
  if (const HeaderField* f = msg.first("Subject")) out.log.subject = f->unfolded();
  if (const HeaderField* f = msg.first("Message-ID")) out.log.message_id = f->unfolded();
  const bool checked = facts.auth && !facts.auth->empty();
  const std::string ar_value = checked ? authentication_results_value(s.authserv_id, *facts.auth) : std::string();
  if (checked) out.log.authentication_results = HeaderField{"Authentication-Results", ar_value}.unfolded();
  if (!out.delivers()) return out;

  // RFC 8601: our Authentication-Results goes on top.
  if (checked) {
    HeaderField ar{"Authentication-Results", " " + ar_value};
    if (ar.valid_to_add()) out.prepend.push_back(std::move(ar));
  }
  for (const auto& h : d.add_headers) out.prepend.push_back(h);
  static const PolicyConfig kDefaults;
  const TaggingConfig& tagging = s.policy ? s.policy->tagging : kDefaults.tagging;
  if (s.filters_configured)
    for (auto& h : spam_headers(tagging, d.outcome >= PolicyAction::Tag, d.score, d.required, d.symbols))
      if (h.valid_to_add()) out.prepend.push_back(std::move(h));

  // RFC 8601 5: a field claiming our authserv-id is the sender's forgery; so are the
  // sender's own X-Spam-* of the names we write.
  out.edit.remove = {tagging.flag_header, tagging.status_header, tagging.level_header, tagging.score_header};
  out.edit.remove_ar_of = std::string(s.authserv_id);
  if (d.tagged()) out.edit.subject_prefix = tagging.subject_prefix;
  out.edited = edit_headers(msg, out.edit);
  if (out.edit.removed_ar) out.log.notes.push_back({"FORGED_AUTH_RESULTS_REMOVED", 0.0, std::string(s.authserv_id)});
  if (out.edit.removed > out.edit.removed_ar)
    out.log.notes.push_back(
        {"FORGED_SPAM_HEADERS_REMOVED", 0.0, std::to_string(out.edit.removed - out.edit.removed_ar)});
  return out;
}

QuarantineRecord quarantine_record(const Envelope& env, const Outcome& out, const Message& msg) {
  QuarantineRecord rec;
  rec.txn = env.txn_id;
  rec.client_ip = env.client.ip;
  rec.helo = env.client.helo;
  rec.mail_from = env.mail_from ? env.mail_from->address : std::string();
  for (const auto& r : env.rcpts) rec.rcpts.push_back(r.address);
  rec.header_from = out.log.header_from;
  rec.subject = out.log.subject;
  rec.message_id = out.log.message_id;
  rec.size = msg.size();
  rec.score = out.decision.score;
  rec.symbols = out.decision.symbols;
  rec.auth_results = out.log.authentication_results;
  rec.rule = out.decision.reason;
  return rec;
}

}  // namespace mxgate
