// Every example command of README.md, run in the order the README gives them, as a new user
// would paste them: the README stays true. The commands run in a fresh folder that holds links
// to the build, configs/, scripts/ and .venv (so runs/, segments/ and the files the examples
// write land there, not in the checkout).
//
// What the test changes, so that the whole README runs in minutes on 2 cores (the short
// budget; everything else is run exactly as written):
//   - `../shared/` is the checkout's ../shared (absolute); without it the test is skipped
//     (later examples build on what those make);
//   - counts are cut: `--steps N` of wm collect to N / 20, `<part>_train.steps=N` to N / 40
//     (at least 2), `model_free.real_steps=N` to N / 20, `--episodes N` to 1; trainers without
//     steps in the example get `<part>_train.steps=4`; `wm train all` gets one short epoch;
//     environments end episodes after env.max_steps=60 (so short collections store episodes);
//     benchmarks get their own shortest settings (kBenchBudget below: a value the example
//     gives is replaced, as CLI11 takes an option once, except the sizes lists it shows); the
//     kill soak runs one trial of the tokenizer; `wm play` (a server) runs until its page has
//     been fetched, then gets Ctrl-C;
//   - skipped, each with its reason in the output: setup and build commands (make, cmake,
//     scripts/setup.sh: what runs this test; make fuzz, which CI runs on its own), ctest (this test is one), configs needing a GPU
//     where none is visible, and the Udacity dream of runs that BENCHMARKS.md's long runs made.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace wm {
namespace {

struct Example {
  std::string command;         // one line, continuations joined
  std::string expected_error;  // for "$ command" followed by "wm: error: ...": what stderr starts with
};

// The README's example commands in order: lines of its plain code blocks (no language, or sh)
// that start with build/, .venv/bin/python, scripts/, make, cmake or cd, with the expected
// error line where the README shows one.
std::vector<Example> readme_examples(const std::string& readme) {
  std::vector<Example> examples;
  std::istringstream in(readme);
  bool in_block = false, plain_block = false;
  std::string pending;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("```", 0) == 0) {
      in_block = !in_block;
      plain_block = in_block && (line == "```" || line == "```sh" || line == "```bash");
      continue;
    }
    if (!in_block || !plain_block) continue;
    if (!pending.empty()) {
      line = pending + " " + line;
      pending.clear();
    }
    if (!line.empty() && line.back() == '\\') {
      pending = line.substr(0, line.size() - 1);
      continue;
    }
    const size_t first = line.find_first_not_of(' ');
    if (first == std::string::npos) continue;
    line = line.substr(first);
    if (line.rfind("wm: error: ", 0) == 0 && !examples.empty()) {
      // The README elides the end of a long message with "(...)".
      const size_t elided = line.find(" (...)");
      examples.back().expected_error = elided == std::string::npos ? line : line.substr(0, elided);
      continue;
    }
    if (line.rfind("$ ", 0) == 0) line = line.substr(2);
    // A trailing "# comment" is the README's explanation, not part of the command.
    const size_t comment = line.find("  #");
    if (comment != std::string::npos) line = line.substr(0, comment);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    for (const char* start : {"build/", ".venv/bin/python", "scripts/", "make ", "cmake ", "cd "}) {
      if (line.rfind(start, 0) == 0) {
        examples.push_back({line, ""});
        break;
      }
    }
  }
  return examples;
}

// Replaces every match of `pattern` by what `replace` makes of its first group (an integer).
std::string scale_numbers(const std::string& text, const std::string& pattern, const std::function<std::string(long)>& replace) {
  const std::regex re(pattern);
  std::string out;
  auto begin = std::sregex_iterator(text.begin(), text.end(), re);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += text.substr(last, it->position(0) - last);
    out += replace(std::stol((*it)[1].str()));
    last = it->position(0) + it->length(0);
  }
  return out + text.substr(last);
}

// `flag value` in the command: the value replaced where the flag is given (CLI11 takes an
// option once), else appended; keep_given: a value the example gives stays.
std::string set_option(std::string command, const std::string& flag, const std::string& value, bool keep_given = false) {
  const size_t at = command.find(" " + flag + " ");
  if (at == std::string::npos) return command + " " + flag + " " + value;
  if (keep_given) return command;
  const size_t value_start = at + flag.size() + 2;
  const size_t value_end = std::min(command.find(' ', value_start), command.size());
  return command.replace(value_start, value_end - value_start, value);
}

struct BenchOption {
  std::string flag, value;
  bool keep_given = false;
};

// Each benchmark's shortest settings.
const std::map<std::string, std::vector<BenchOption>> kBenchBudget = {
    {"gemm", {{"--sizes", "256", true}, {"--min-time", "0.05"}}},
    {"dynamics", {{"--steps", "1"}}},  // and --small-only, below
    {"imagine", {{"--batch", "2"}, {"--horizon", "2"}}},
    {"precision", {{"--batches", "1"}, {"--batch", "2"}}},
    {"actions", {{"--starts", "2"}, {"--horizon", "2"}}},
    {"dream", {{"--starts", "1"}, {"--samples", "1"}, {"--horizon", "2"}}},
    {"memory", {{"--sizes", "64", true}, {"--min-time", "0.05"}}},
    {"tokenizer", {{"--batch", "2"}, {"--seconds", "0.2"}}},
    {"dump", {{"--loops", "1"}, {"--batch", "8"}}},
    {"decode", {{"--min-time", "0.1"}}},
    {"env", {{"--min-time", "0.05"}, {"--episodes", "1"}, {"--envs", "2"}}},
    {"allreduce", {{"--steps", "1"}, {"--batch", "2"}}},
    {"play", {{"--frames", "5"}}},
};

// The example with the short budget, or "" with `why` set when it is skipped here.
std::string with_short_budget(std::string command, const std::string& shared, bool gpu, std::string& why) {
  if (command.rfind("make fuzz", 0) == 0) {
    why = "the fuzzers, which CI runs on its own after the tests";
    return "";
  }
  for (const char* setup : {"make ", "cmake ", "scripts/setup.sh", "cd build && ctest"}) {
    if (command.rfind(setup, 0) == 0) {
      why = "setup, build and the test suite: what runs this test";
      return "";
    }
  }
  if (!gpu && command.find("_gpu.yaml") != std::string::npos) {
    why = "a GPU config, and no GPU is visible";
    return "";
  }
  if (command.find("runs/du-final") != std::string::npos) {
    why = "reads the Udacity runs of BENCHMARKS.md's long training, which no README example makes";
    return "";
  }
  if (command.find("../shared/") != std::string::npos) {
    size_t at;
    while ((at = command.find("../shared/")) != std::string::npos) command.replace(at, 10, shared + "/");
  }
  if (command.rfind("scripts/kill_soak.sh", 0) == 0) {
    // Relative: inside the example folder, removed with it (the script runs from the folder
    // its scripts/ link sits in).
    return set_option(set_option(command, "--trials", "1"), "--parts", "tokenizer") + " --out kill_soak_out";
  }
  auto at_least = [](long floor) { return [floor](long n) { return std::to_string(std::max(floor, n)); }; };
  if (command.find(" collect ") != std::string::npos) {
    command = scale_numbers(command, R"(--steps (\d+))", [](long n) { return "--steps " + std::to_string(std::max(120L, n / 20)); });
    command += " env.max_steps=60";
  }
  if (command.find(" train ") != std::string::npos) {
    for (const char* part : {"tokenizer", "dynamics", "policy"}) {
      const std::string key = std::string(part) + "_train.steps=";
      command = scale_numbers(command, key + R"((\d+))", [&](long n) { return key + at_least(2)(n / 40); });
    }
    command = scale_numbers(command, R"(model_free\.real_steps=(\d+))", [](long n) { return "model_free.real_steps=" + std::to_string(std::max(64L, n / 20)); });
    for (const char* part : {"tokenizer", "dynamics", "policy"}) {
      const std::string trains = std::string(" train ") + part + " ";
      if (command.find(trains) != std::string::npos && command.find(std::string(part) + "_train.steps=") == std::string::npos) {
        command += " " + std::string(part) + "_train.steps=4";
      }
    }
    if (command.find(" train all ") != std::string::npos) {
      command += " loop.epochs=1 loop.collect_steps=240 loop.tokenizer_steps=3 loop.dynamics_steps=3 loop.policy_steps=2 loop.eval_episodes=1";
    }
    command += " env.max_steps=60 tokenizer_train.eval_frames=16 dynamics_train.eval_batches=1";
  }
  if (command.find(" bench ") == std::string::npos) command = scale_numbers(command, R"(--episodes (\d+))", [](long) { return std::string("--episodes 1"); });
  const size_t bench = command.find("build/wm bench ");
  if (bench != std::string::npos) {
    const std::string rest = command.substr(bench + 15);
    const std::string which = rest.substr(0, rest.find(' '));
    const auto budget = kBenchBudget.find(which);
    if (budget != kBenchBudget.end()) {
      for (const BenchOption& option : budget->second) command = set_option(command, option.flag, option.value, option.keep_given);
    }
    if (which == "dynamics" && command.find("--small-only") == std::string::npos) command += " --small-only";
  }
  return command;
}

// `wm play` serves until it is stopped: it runs in the background; once it prints its URL,
// its page and /api/info are fetched (with the .venv's Python), then Ctrl-C (SIGINT) must end
// it with exit code 0. The result: that code, its log and the fetch's output.
test::CommandResult run_server_example(const std::string& command, const std::filesystem::path& work) {
  const auto out = work / "play_example.out", err = work / "play_example.err", rc = work / "play_example.rc", pid = work / "play_example.pid";
  for (const auto& f : {out, err, rc, pid}) std::filesystem::remove(f);
  test::run_command("cd " + work.string() + " && (sh -c 'exec " + command + "' > " + out.string() + " 2> " + err.string() + " & echo $! > " +
                    pid.string() + "; wait $!; echo $? > " + rc.string() + ") > /dev/null 2>&1 &");
  std::string address;  // the URL it printed
  const bool serving = test::wait_for(
      [&] {
        const std::string text = std::filesystem::exists(out) ? test::read_bytes(out) : "";
        std::smatch url;
        if (std::regex_search(text, url, std::regex("http://[^ \n]+/"))) address = url[0];
        return !address.empty() || std::filesystem::exists(rc);
      },
      180);
  test::CommandResult result;
  if (serving && !std::filesystem::exists(rc)) {
    const auto fetched = test::run_command(test::venv_python() +
                                           " -c \"import sys, urllib.request as u; page = u.urlopen(sys.argv[1]).read().decode(); "
                                           "assert 'wm play' in page, page[:200]; print(u.urlopen(sys.argv[1] + 'api/info').read().decode())\" " +
                                           address);
    std::cout << "            served " << address << ": " << fetched.out.substr(0, 200) << std::endl;
    if (fetched.exit_code != 0) result.err += "fetching " + address + " failed: " + fetched.err + "\n";
    test::run_command("kill -INT " + test::read_bytes(pid));
  }
  test::wait_for([&] { return std::filesystem::exists(rc) && !test::read_bytes(rc).empty(); }, 60);
  result.exit_code = std::filesystem::exists(rc) ? std::stoi(test::read_bytes(rc)) : -1;
  if (!result.err.empty() && result.exit_code == 0) result.exit_code = 1;
  result.err += std::filesystem::exists(err) ? test::read_bytes(err) : "";
  return result;
}

TEST(ReadmeExamples, EveryExampleRunsAsWrittenInOrder) {
  const std::filesystem::path checkout = std::filesystem::current_path();
  const std::vector<Example> examples = readme_examples(test::read_bytes(checkout / "README.md"));
  ASSERT_GT(examples.size(), 40u) << "the README's code blocks were not found";
  const std::string shared = (checkout.parent_path() / "shared").string();
  // Later examples read what the ../shared ones make (runs/udacity-tokens, ...): without it
  // the README cannot run as written. CI has it beside the checkout.
  if (!std::filesystem::exists(shared)) GTEST_SKIP() << shared << " is absent: the README's examples read its data";
  // A GPU only when wm says it sees one (a failing --version is no GPU).
  const std::string version = test::run_command(test::wm_binary() + " --version").out;
  const size_t visible = version.find("GPUs visible: ");
  const bool gpu = visible != std::string::npos && std::atoi(version.c_str() + visible + 14) > 0;

  // To look into a failure: WM_README_WORK=<folder> keeps the folder, and WM_README_FROM=<n>
  // starts at the n-th example (0-based) in a folder an earlier run left.
  test::TempDir temporary;
  const char* kept = std::getenv("WM_README_WORK");
  const std::filesystem::path work = kept ? std::filesystem::path(kept) : temporary.path();
  const size_t from = std::getenv("WM_README_FROM") ? std::stoul(std::getenv("WM_README_FROM")) : 0;
  std::filesystem::create_directories(work);
  for (const char* link : {"build", "configs", "scripts", ".venv", "bench", "envs"}) {
    if (!std::filesystem::exists(work / link)) std::filesystem::create_directory_symlink(checkout / link, work / link);
  }
  int ran = 0;
  for (size_t index = from; index < examples.size(); ++index) {
    const Example& example = examples[index];
    std::string why;
    const std::string command = with_short_budget(example.command, shared, gpu, why);
    if (command.empty()) {
      std::cout << "[ skipped ] " << example.command << "\n            (" << why << ")" << std::endl;
      continue;
    }
    std::cout << "[ example " << index << " ] " << command << std::endl;
    const test::CommandResult result = command.rfind("build/wm play ", 0) == 0 ? run_server_example(command, work)
                                                                              : test::run_command("cd " + work.string() + " && " + command);
    ++ran;
    if (example.expected_error.empty()) {
      EXPECT_EQ(result.exit_code, 0) << "README example failed: " << example.command << "\nran as: " << command << "\n" << result.err;
    } else {
      EXPECT_NE(result.exit_code, 0) << example.command;
      EXPECT_EQ(result.err.rfind(example.expected_error, 0), 0u)
          << "README shows: " << example.expected_error << "\nwm printed: " << result.err;
    }
    if (::testing::Test::HasFailure()) break;  // later examples build on this one
  }
  if (from == 0) {
    EXPECT_GT(ran, 40);
  }
}

}  // namespace
}  // namespace wm
