// Runs the official JSON-Schema-Test-Suite (draft4 and draft7) for every keyword the validator
// supports, prints pass counts per draft and keyword, and fails on any non-excluded miss.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "host/schema/validator.h"

namespace gale::schema {
namespace {

namespace fs = std::filesystem;

// Absolute on purpose: the suite comes from the Debian package, not from the source tree.
constexpr const char* kSuiteDir = "/usr/share/json-schema-test-suite";

// Files named for supported keywords. Files a draft does not have are skipped for that draft.
// refRemote runs too: the suite's remotes/ are supplied as documents (nothing is fetched).
const char* const kKeywordFiles[] = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "enum",
    "const",
    "items",
    "additionalItems",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "pattern",
    "minProperties",
    "maxProperties",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "ref",
    "refRemote",
    "definitions",
    "default",
    "boolean_schema",
    "dependencies",
    "contains",
    "propertyNames",
    "if-then-else",
};

// Cases that cannot pass, each with its reason. Empty: every case of the files above passes.
struct Exclusion {
  const char* draft;
  const char* file;
  const char* group;
  const char* test;
  const char* reason;
};
const std::vector<Exclusion> kExclusions = {};

bool Excluded(const std::string& draft, const std::string& file, const std::string& group,
              const std::string& test) {
  for (const Exclusion& e : kExclusions) {
    if (draft == e.draft && file == e.file && group == e.group && test == e.test) return true;
  }
  return false;
}

Json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  return Json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// remotes/x/y.json is what the suite expects at http://localhost:1234/x/y.json.
DocumentMap LoadRemotes(const fs::path& dir) {
  DocumentMap documents;
  if (!fs::is_directory(dir)) return documents;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".json") continue;
    documents["http://localhost:1234/" + fs::relative(entry.path(), dir).generic_string()] =
        ReadJson(entry.path());
  }
  return documents;
}

struct Tally {
  int passed = 0;
  int total = 0;
  int excluded = 0;
};

TEST(JsonSchemaTestSuite, Draft4AndDraft7) {
  const fs::path tests = fs::path(kSuiteDir) / "tests";
  ASSERT_TRUE(fs::is_directory(tests))
      << tests << " is missing: run scripts/setup (it installs the json-schema-test-suite "
      << "Debian package)";
  const DocumentMap remotes = LoadRemotes(fs::path(kSuiteDir) / "remotes");
  const std::map<std::string, std::string> drafts = {
      {"draft4", "http://json-schema.org/draft-04/schema#"},
      {"draft7", "http://json-schema.org/draft-07/schema#"},
  };

  std::vector<std::string> failures;
  std::vector<std::pair<std::string, Tally>> table;
  for (const auto& [draft, meta_uri] : drafts) {
    ASSERT_TRUE(fs::is_directory(tests / draft)) << (tests / draft) << " is missing";
    std::set<std::string> run;
    for (const char* keyword : kKeywordFiles) {
      const fs::path file = tests / draft / (std::string(keyword) + ".json");
      if (!fs::exists(file)) continue;
      run.insert(file.filename().string());
      const Json groups = ReadJson(file);
      ASSERT_TRUE(groups.is_array()) << file << " is not a JSON array";
      Tally tally;
      for (const Json& group : groups) {
        const std::string group_name = group.value("description", "");
        // Each schema runs as written (draft told apart by keyword types) and, when it is an
        // object without "$schema", once more declaring its draft, which selects the strict
        // draft-specific reading.
        std::vector<Json> schemas = {group["schema"]};
        if (group["schema"].is_object() && !group["schema"].contains("$schema")) {
          Json declared = group["schema"];
          declared["$schema"] = meta_uri;
          schemas.push_back(std::move(declared));
        }
        for (const Json& test : group["tests"]) {
          const std::string test_name = test.value("description", "");
          if (Excluded(draft, keyword, group_name, test_name)) {
            ++tally.excluded;
            continue;
          }
          ++tally.total;
          const bool expected = test["valid"].get<bool>();
          std::string problem;
          for (std::size_t mode = 0; mode < schemas.size() && problem.empty(); ++mode) {
            const char* how = mode == 0 ? "" : " (with $schema)";
            auto validator = Validator::Compile(schemas[mode], remotes);
            if (!validator.ok()) {
              problem = std::string("does not compile") + how + ": " + validator.message();
              continue;
            }
            const bool fast = validator->IsValid(test["data"]);
            const auto violations = validator->Validate(test["data"]);
            if (fast != expected) {
              problem = std::string("IsValid says ") + (fast ? "valid" : "invalid") + how;
            } else if (violations.empty() != expected) {
              problem = std::string("Validate disagrees with IsValid") + how;
            }
          }
          if (problem.empty()) {
            ++tally.passed;
          } else {
            failures.push_back(draft + " " + keyword + ": " + group_name + " / " + test_name +
                               ": " + problem);
          }
        }
      }
      table.emplace_back(draft + " " + keyword, tally);
    }
    for (const auto& entry : fs::directory_iterator(tests / draft)) {
      if (entry.is_regular_file() && !run.count(entry.path().filename().string())) {
        std::cout << draft << " not run: " << entry.path().filename().string() << "\n";
      }
    }
  }

  int passed = 0, total = 0;
  for (const auto& [name, tally] : table) {
    std::cout << name << " " << tally.passed << "/" << tally.total;
    if (tally.excluded > 0) std::cout << " (" << tally.excluded << " excluded)";
    std::cout << "\n";
    passed += tally.passed;
    total += tally.total;
  }
  std::cout << "total " << passed << "/" << total << "\n";
  std::string report;
  for (const std::string& f : failures) report += f + "\n";
  EXPECT_TRUE(failures.empty()) << failures.size() << " case(s) failed:\n" << report;
}

}  // namespace
}  // namespace gale::schema
