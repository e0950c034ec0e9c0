// The core pack's host-local actions from StackStorm (issue 19, item 8): core.pause, core.error
// and core.sendmail, run by a real node through its API.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test/support/api_fixture.h"
#include "test/support/pack_dir.h"

namespace gale::testing {
namespace {

namespace fs = std::filesystem;

class CoreActionsTest : public ApiNodeTest {
 protected:
  // Runs `action` with `parameters` and waits for its final record.
  static Json RunCore(const std::string& action, const Json& parameters) {
    auto api = Api();
    Json request = {{"action", action}, {"parameters", parameters}};
    auto created = api.Call("POST", "/v1/executions", &request);
    EXPECT_TRUE(created.ok()) << created.message();
    if (!created.ok()) return Json::object();
    EXPECT_EQ(created->status, 201) << created->body;
    if (created->status != 201) return Json::object();
    return WaitFinal(api, created->json()["id"]);
  }
};

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A stand-in for the MTA's sendmail: keeps its arguments and the message it is given.
struct FakeSendmail {
  TempDir dir;
  fs::path binary = dir.path() / "sendmail";
  FakeSendmail() {
    ShareWithActions(dir.path());  // the action user runs it and writes what it received
    WriteFiles(dir.path(), {{"sendmail",
                             "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"$(dirname \"$0\")/args\"\n"
                             "cat > \"$(dirname \"$0\")/message\"\n"}});
    fs::permissions(binary, fs::perms::all, fs::perm_options::add);
  }
  std::string args() const { return ReadAll(dir.path() / "args"); }
  std::string message() const { return ReadAll(dir.path() / "message"); }
};

TEST_F(CoreActionsTest, PauseWaitsMaxPauseSecondsAndSaysHowLong) {
  Json done = RunCore("core.pause", {{"max_pause", 1}});
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], "1\n") << done.dump();

  // random: a whole number of seconds from 1 to max_pause.
  Json random = RunCore("core.pause", {{"max_pause", 2}, {"random", true}});
  EXPECT_EQ(random["status"], "succeeded") << random.dump();
  const std::string waited = random["result"].value("stdout", "");
  EXPECT_TRUE(waited == "1\n" || waited == "2\n") << random.dump();

  // A negative pause is refused when requested.
  auto api = Api();
  Json negative = {{"action", "core.pause"}, {"parameters", {{"max_pause", -1}}}};
  auto refused = api.Call("POST", "/v1/executions", &negative);
  ASSERT_TRUE(refused.ok()) << refused.message();
  EXPECT_EQ(refused->status, 400);
  EXPECT_NE(refused->body.find("/max_pause: value -1 is less than the minimum 0"),
            std::string::npos)
      << refused->body;
}

TEST_F(CoreActionsTest, ErrorFailsWithItsMessageOnStderrNeverRunningIt) {
  const std::string message = "disk full; $(touch /tmp/gale-core-error-ran) `id`";
  Json done = RunCore("core.error", {{"message", message}});
  EXPECT_EQ(done["status"], "failed") << done.dump();
  EXPECT_EQ(done["result"]["stderr"], message + "\n") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], "") << done.dump();
  EXPECT_EQ(done["result"]["return_code"], 1) << done.dump();
  EXPECT_FALSE(fs::exists("/tmp/gale-core-error-ran"));
}

TEST_F(CoreActionsTest, SendmailFailsClearlyWhenNoSendmailIsInstalled) {
  for (const char* path : {"/usr/sbin/sendmail", "/usr/lib/sendmail"}) {
    if (fs::exists(path)) GTEST_SKIP() << path << " exists on this machine";
  }
  if (RunCommand("command -v sendmail").exit_code == 0) GTEST_SKIP() << "sendmail on PATH";
  Json done =
      RunCore("core.sendmail", {{"to", "ops@example.com"}, {"subject", "hi"}, {"body", "hello"}});
  EXPECT_EQ(done["status"], "failed") << done.dump();
  const std::string err = done["result"].value("stderr", "");
  EXPECT_EQ(err.rfind("sendmail: not installed (looked in /usr/sbin/sendmail, /usr/lib/sendmail "
                      "and PATH=",
                      0),
            0u)
      << done.dump();
  EXPECT_EQ(done["result"]["return_code"], 2) << done.dump();
}

TEST_F(CoreActionsTest, SendmailHandsAComposedMessageToSendmailT) {
  FakeSendmail fake;
  Json done = RunCore("core.sendmail", {{"sendmail_binary", fake.binary.string()},
                                        {"to", "ops@example.com"},
                                        {"from", "gale@example.com"},
                                        {"subject", "Disk almost full"},
                                        {"content_type", "text"},
                                        {"body", "Only 3% left on /var.\nSecond line."}});
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  EXPECT_EQ(done["result"]["stdout"], "Sent mail to ops@example.com\n") << done.dump();
  EXPECT_EQ(fake.args(), "-t\n");
  const std::string message = fake.message();
  EXPECT_NE(message.find("To: ops@example.com\n"), std::string::npos) << message;
  EXPECT_NE(message.find("From: gale@example.com\n"), std::string::npos) << message;
  EXPECT_NE(message.find("Subject: Disk almost full\n"), std::string::npos) << message;
  EXPECT_NE(message.find("Content-Type: text/plain; charset=UTF-8\n"), std::string::npos)
      << message;
  EXPECT_NE(message.find("\n\nOnly 3% left on /var.\nSecond line.\n"), std::string::npos)
      << message;
}

TEST_F(CoreActionsTest, SendmailAttachesFilesEncodesSubjectsAndRefusesHeaderInjection) {
  FakeSendmail fake;
  WriteFiles(fake.dir.path(), {{"report.txt", "all good\n"}});
  Json done =
      RunCore("core.sendmail", {{"sendmail_binary", fake.binary.string()},
                                {"to", "ops@example.com"},
                                {"subject", "Rapport \xc3\xa9t\xc3\xa9"},
                                {"body", "<p>see attached</p>"},
                                {"attachments", (fake.dir.path() / "report.txt").string()}});
  EXPECT_EQ(done["status"], "succeeded") << done.dump();
  const std::string message = fake.message();
  // A bare sender name gets this host's name.
  EXPECT_NE(message.find("From: stanley@"), std::string::npos) << message;
  // UTF-8 subject as an RFC 2047 encoded word: base64 of "Rapport été".
  EXPECT_NE(message.find("Subject: =?UTF-8?B?UmFwcG9ydCDDqXTDqQ==?=\n"), std::string::npos)
      << message;
  EXPECT_NE(message.find("Content-Type: multipart/mixed; boundary="), std::string::npos) << message;
  EXPECT_NE(message.find("Content-Type: text/html; charset=UTF-8\n"), std::string::npos) << message;
  EXPECT_NE(message.find("filename=\"report.txt\""), std::string::npos) << message;
  EXPECT_NE(message.find("YWxsIGdvb2QK"), std::string::npos) << message;  // base64("all good\n")

  // A missing attachment fails before anything is sent.
  fs::remove(fake.dir.path() / "message");
  Json missing = RunCore("core.sendmail", {{"sendmail_binary", fake.binary.string()},
                                           {"to", "ops@example.com"},
                                           {"subject", "x"},
                                           {"body", "x"},
                                           {"attachments", "/nonexistent/report.pdf"}});
  EXPECT_EQ(missing["status"], "failed") << missing.dump();
  EXPECT_EQ(missing["result"]["stderr"],
            "sendmail: attachment /nonexistent/report.pdf: not a readable file\n");
  EXPECT_FALSE(fs::exists(fake.dir.path() / "message"));

  // A subject with a line break could add headers (Bcc:): refused.
  Json injected = RunCore("core.sendmail", {{"sendmail_binary", fake.binary.string()},
                                            {"to", "ops@example.com"},
                                            {"subject", "hi\nBcc: everyone@example.com"},
                                            {"body", "x"}});
  EXPECT_EQ(injected["status"], "failed") << injected.dump();
  EXPECT_NE(injected["result"].value("stderr", "").find("may not contain a line break"),
            std::string::npos)
      << injected.dump();
  EXPECT_FALSE(fs::exists(fake.dir.path() / "message"));

  // An empty body with send_empty_body false: nothing sent, and that is a success.
  Json empty = RunCore("core.sendmail", {{"sendmail_binary", fake.binary.string()},
                                         {"to", "ops@example.com"},
                                         {"subject", "x"},
                                         {"body", "  \n"},
                                         {"send_empty_body", false}});
  EXPECT_EQ(empty["status"], "succeeded") << empty.dump();
  EXPECT_EQ(empty["result"]["stdout"], "Nothing to send (the body is empty)\n");
  EXPECT_FALSE(fs::exists(fake.dir.path() / "message"));
}

}  // namespace
}  // namespace gale::testing
