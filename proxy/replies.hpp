// The session's own replies, as named constants: built once (and checked, code
// against enhanced code, when the program starts), never as braced temporaries inside
// a co_await (GCC 12 has destroyed such temporaries twice).
#pragma once
#include "filters/smtp_reply.hpp"

namespace mxgate {
namespace replies {
inline const SmtpReply kOk{250, "2.0.0", "Ok"};
inline const SmtpReply kSenderOk{250, "2.1.0", "Ok"};
inline const SmtpReply kQuarantineFailed{451, "4.3.0", "Error: cannot store the message now; try again later"};
inline const SmtpReply kQuarantineBusy{451, "4.3.2", "Too busy to store the message now; try again later"};
inline const SmtpReply kBye{221, "2.0.0", "Bye"};
inline const SmtpReply kNeedHelo{503, "5.5.1", "Error: send HELO/EHLO first"};
inline const SmtpReply kNestedMail{503, "5.5.1", "Error: nested MAIL command"};
inline const SmtpReply kNeedMail{503, "5.5.1", "Error: need MAIL command"};
inline const SmtpReply kNeedRcpt{503, "5.5.1", "Error: need RCPT command"};
inline const SmtpReply kNoValidRcpts{554, "5.5.1", "Error: no valid recipients"};
inline const SmtpReply kUnknownCommand{500, "5.5.2", "Error: command not recognized"};
inline const SmtpReply kEmptyCommand{500, "5.5.2", "Error: bad syntax"};
inline const SmtpReply kNotImplemented{502, "5.5.1", "Error: command not implemented"};
inline const SmtpReply kCommandTooLong{500, "5.5.2", "Error: line too long"};
inline const SmtpReply kBadCharacters{500, "5.5.2", "Error: control characters in command"};
inline const SmtpReply kHeloSyntax{501, "5.5.4", "Syntax: EHLO hostname"};
inline const SmtpReply kDataSyntax{501, "5.5.4", "Syntax: DATA"};
inline const SmtpReply kRsetSyntax{501, "5.5.4", "Syntax: RSET"};
inline const SmtpReply kQuitSyntax{501, "5.5.4", "Syntax: QUIT"};
inline const SmtpReply kStarttlsSyntax{501, "5.5.4", "Syntax: STARTTLS"};
inline const SmtpReply kVrfySyntax{501, "5.5.4", "Syntax: VRFY address"};
inline const SmtpReply kTooManyRcpts{452, "4.5.3", "Error: too many recipients"};
inline const SmtpReply kSizeTooBig{552, "5.3.4", "Message size exceeds fixed limit"};
inline const SmtpReply kStartData{354, "", "End data with <CR><LF>.<CR><LF>"};
inline const SmtpReply kMessageTooBig{552, "5.3.4", "Error: message too big"};
inline const SmtpReply kHeaderTooBig{552, "5.3.4", "Error: message header too big"};
inline const SmtpReply kTextLineTooLong{550, "5.6.0", "Error: message has a line longer than allowed"};
inline const SmtpReply kBareLineEnding{550, "5.5.2",
                                "Error: bare <CR> or <LF> in message; lines must end with <CR><LF>"};
inline const SmtpReply kVrfy{252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery"};
inline const SmtpReply kHelp{214, "2.0.0",
                      "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS"};
inline const SmtpReply kTlsReady{220, "2.0.0", "Ready to start TLS"};
inline const SmtpReply kTlsActive{554, "5.5.1", "Error: TLS already active"};
inline const SmtpReply kTxnInProgress{503, "5.5.1", "Error: MAIL transaction in progress"};
inline const SmtpReply kXclientDenied{550, "5.7.0", "Error: insufficient authorization"};
inline const SmtpReply kInternalError{421, "4.3.0", "Error: internal error, try again later"};
inline const SmtpReply kPolicyReject{550, "5.7.1", "Message rejected by policy"};
inline const SmtpReply kNoStorageNow{452, "4.3.1", "Insufficient system storage, try again later"};
inline const SmtpReply kNoStorage{451, "4.3.1", "Insufficient system storage, try again later"};
inline const SmtpReply kDownstreamBusy{451, "4.3.2", "Too many transactions in progress, try again later"};
inline const SmtpReply kPolicyTempfail{451, "4.7.1", "Try again later"};
}  // namespace replies

}  // namespace mxgate
