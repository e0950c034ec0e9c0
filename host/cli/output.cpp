#include "host/cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ostream>

namespace gale::cli {
namespace {

std::string Wrap(const char* code, const std::string& s) {
  return UseColor() ? std::string("\033[") + code + "m" + s + "\033[0m" : s;
}

}  // namespace

bool UseColor() {
  static const bool color = isatty(STDOUT_FILENO) && std::getenv("NO_COLOR") == nullptr;
  return color;
}
std::string Bold(const std::string& s) {
  return Wrap("1", s);
}
std::string Red(const std::string& s) {
  return Wrap("31", s);
}
std::string Green(const std::string& s) {
  return Wrap("32", s);
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> width(headers_.size());
  for (size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells, bool header) {
    std::string text;
    for (size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < cells.size() ? cells[i] : "";
      if (i + 1 < width.size()) cell.resize(width[i], ' ');
      text += (i ? "  " : "") + cell;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << (header ? Bold(text) : text) << '\n';
  };
  line(headers_, true);
  for (const auto& row : rows_) line(row, false);
}

}  // namespace gale::cli
