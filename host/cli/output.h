// Human output for the CLI: aligned tables, colour only on a terminal.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace gale::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void AddRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// True when stdout is a terminal and NO_COLOR is unset.
bool UseColor();
std::string Bold(const std::string& s);
std::string Red(const std::string& s);
std::string Green(const std::string& s);

}  // namespace gale::cli
