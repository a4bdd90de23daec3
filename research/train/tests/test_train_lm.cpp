// The language-model experiment's pieces (research/train/lm_*, research/train/text_corpus): the corpus split rule and
// loader on a tiny corpus the test writes, the model's shapes and costs, causality (a future token must not change
// earlier logits — the LM's real acceptance), loss falling on a tiny run for every kind of linear layer, and
// incremental decoding giving the full forward's logits.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "lm_checkpoint.hpp"
#include "lm_config.hpp"
#include "lm_data.hpp"
#include "lm_decoder.hpp"
#include "lm_generate.hpp"
#include "lm_model.hpp"
#include "lm_results_json.hpp"
#include "lm_trainer.hpp"
#include "posix_files.hpp"
#include "run_checkpoint.hpp"
#include "text_corpus.hpp"

namespace strassentile::train {
namespace {

// make_lm_train_config's error message for these values ("" when it accepts them).
std::string error_of(const std::map<std::string, std::string>& v) {
  try {
    make_lm_train_config(v);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

using data::CorpusSplit;

// Linear-layer specs of the experiment, at the tiny test width (dim 32, hidden 64).
const char* kCausalStl = "stl:tile=4x4x4,rank=24,mode=causal";
const char* kTokenLocalStl = "stl:tile=1x4x4,rank=8,mode=token-local";
const char* kTileStl = "stl:tile=4x4x4,rank=24";

LmConfig tiny_model() {
  LmConfig c;
  c.dim = 32;
  c.depth = 2;
  c.heads = 2;
  c.hidden = 64;
  c.context = 24;
  return c;
}

// A new empty folder for one test (unique per call: tests run in parallel processes).
std::string temp_dir(const std::string& name) { return make_scratch_directory("strassentile_lm_" + name + "_"); }

void write_file(const std::string& path, const std::string& text) {
  make_directories(path.substr(0, path.rfind('/')));
  std::ofstream(path, std::ios::binary) << text;
}

// A corpus in the layout scripts/fetch-text-corpus.sh writes, with `per_split` documents of English-like text in
// every split: names are tried in order until each split has enough.
std::string write_tiny_corpus(const std::string& name, int per_split, std::vector<std::string>* names = nullptr) {
  const std::string dir = temp_dir(name);
  const std::vector<std::string> roots = data::text_corpus_roots(dir);
  const char* words[] = {"the ", "layer ", "kernel ", "returns ", "a ", "tensor ", "of ", "python ", "module ", "\n"};
  int counts[3] = {0, 0, 0};
  for (int i = 0; counts[0] < per_split || counts[1] < per_split || counts[2] < per_split; ++i) {
    const bool python = i % 2 == 0;
    const std::string rel = (i % 3 == 0 ? "sub/doc" : "doc") + std::to_string(i) + ".rst.txt";
    const std::string doc = (python ? "python/" : "linux/") + rel;
    const int split = static_cast<int>(data::corpus_split_of(doc));
    if (counts[split] >= per_split) continue;
    ++counts[split];
    std::string text = "Document " + std::to_string(i) + "\n=====\n";
    for (int w = 0; w < 400; ++w) text += words[(w * 7 + i) % 10];
    write_file(roots[python ? 0 : 1] + "/" + rel, text);
    if (names) names->push_back(doc);
  }
  write_file(roots[0] + "/ignored.html", "not a source");  // only *.rst.txt are documents
  return dir;
}

// ---- corpus ----

TEST(TextCorpus, Fnv1a64KnownValues) {
  EXPECT_EQ(data::fnv1a64(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(data::fnv1a64("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(data::fnv1a64("foobar"), 0x85944171f73967e8ULL);
}

TEST(TextCorpus, SplitRuleAtTheBoundaries) {
  // Names from the real corpus whose hash % 100 is 89, 90, 94 and 95 (computed independently in Python).
  EXPECT_EQ(data::corpus_split_of("python/library/asyncio-api-index.rst.txt"), CorpusSplit::Train);  // 89
  EXPECT_EQ(data::corpus_split_of("linux/PCI/endpoint/pci-ntb-function.rst.txt"), CorpusSplit::Val);  // 90
  EXPECT_EQ(data::corpus_split_of("python/library/codecs.rst.txt"), CorpusSplit::Val);               // 94
  EXPECT_EQ(data::corpus_split_of("python/library/html.entities.rst.txt"), CorpusSplit::Test);       // 95
  EXPECT_EQ(data::corpus_split_of("linux/index.rst.txt"), CorpusSplit::Train);                       // 55
}

TEST(TextCorpus, LoaderSplitsByDocumentInNameOrder) {
  std::vector<std::string> names;
  const std::string dir = write_tiny_corpus("loader", 2, &names);
  const data::TextCorpus corpus = data::load_text_corpus(dir);
  std::sort(names.begin(), names.end());
  std::string expected[3];
  int64_t docs[3] = {0, 0, 0};
  const std::vector<std::string> roots = data::text_corpus_roots(dir);
  for (const auto& name : names) {
    const bool python = name.rfind("python/", 0) == 0;
    const std::string file = roots[python ? 0 : 1] + "/" + name.substr(python ? 7 : 6);
    std::ifstream in(file, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const int split = static_cast<int>(data::corpus_split_of(name));
    expected[split] += text + data::kDocumentEnd;
    ++docs[split];
  }
  EXPECT_EQ(corpus.train.bytes, expected[0]);
  EXPECT_EQ(corpus.val.bytes, expected[1]);
  EXPECT_EQ(corpus.test.bytes, expected[2]);
  EXPECT_EQ(corpus.train.documents, 2);
  EXPECT_EQ(corpus.val.documents, 2);
  EXPECT_EQ(corpus.test.documents, 2);
  EXPECT_EQ(docs[0] + docs[1] + docs[2], 6);
  remove_tree(dir);
}

TEST(TextCorpus, MissingCorpusSaysHowToFetchIt) {
  try {
    data::load_text_corpus("/no/such/corpus");
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("scripts/fetch-text-corpus.sh"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("python3.11/html/_sources"), std::string::npos) << e.what();
  }
}

TEST(TextCorpus, AddedSourcesLeaveTheFirstTwoSplitsAndKeepHeldOutDocumentsOutOfTraining) {
  std::vector<std::string> names;
  const std::string dir = write_tiny_corpus("sources", 2, &names);
  // One document per added source and split, each with a text found nowhere else.
  const std::vector<std::string> all = {"python", "linux", "llvm", "clang", "cmake"};
  const std::vector<std::string> roots = data::text_corpus_roots(dir, all);
  std::vector<std::pair<std::string, CorpusSplit>> added;  // marker text, split
  for (std::size_t s = 2; s < all.size(); ++s) {
    bool have[3] = {false, false, false};
    for (int i = 0; !(have[0] && have[1] && have[2]); ++i) {
      const std::string rel = "page" + std::to_string(i) + ".rst.txt";
      const CorpusSplit split = data::corpus_split_of(all[s] + "/" + rel);
      if (have[static_cast<int>(split)]) continue;
      have[static_cast<int>(split)] = true;
      const std::string marker = "unique text of " + all[s] + "/" + rel + "\n";
      write_file(roots[s] + "/" + rel, marker);
      added.emplace_back(marker, split);
    }
  }
  const data::TextCorpus first_two = data::load_text_corpus(dir);
  const data::TextCorpus five = data::load_text_corpus(dir, all);
  EXPECT_EQ(five.train.documents, first_two.train.documents + 3);
  EXPECT_EQ(five.val.documents, first_two.val.documents + 3);
  EXPECT_EQ(five.test.documents, first_two.test.documents + 3);
  for (const auto& [marker, split] : added) {
    EXPECT_NE(five.split(split).bytes.find(marker), std::string::npos) << marker;
    if (split != CorpusSplit::Train) {
      EXPECT_EQ(five.train.bytes.find(marker), std::string::npos) << marker;
    }
  }
  // The python and linux documents keep their splits: every byte of the first two sources' splits is still there.
  for (const CorpusSplit s : {CorpusSplit::Train, CorpusSplit::Val, CorpusSplit::Test}) {
    std::string rest = five.split(s).bytes;
    for (const auto& [marker, split] : added) {
      const std::size_t at = rest.find(marker + data::kDocumentEnd);
      if (at != std::string::npos) rest.erase(at, marker.size() + 1);
    }
    EXPECT_EQ(rest, first_two.split(s).bytes) << data::corpus_split_name(s);
  }
  EXPECT_THROW(data::load_text_corpus(dir, {"python", "python"}), std::invalid_argument);
  try {
    data::load_text_corpus(dir, {"python", "perl"});
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("unknown text source 'perl' (known: python, linux, llvm, clang, cmake)"),
              std::string::npos) << e.what();
  }
  remove_tree(dir);
}

TEST(LmData, BatchesAreShiftedWindowsAndEvalWindowsTileTheStream) {
  const torch::Tensor stream = torch::arange(100, torch::kLong).to(torch::kUInt8);
  at::Generator gen = at::detail::createCPUGenerator(3);
  const LmBatch b = sample_lm_batch(stream, 5, 8, gen);
  ASSERT_EQ(b.inputs.sizes(), (std::vector<int64_t>{5, 8}));
  EXPECT_TRUE(torch::equal(b.targets, b.inputs + 1));  // consecutive bytes of the arange stream
  EXPECT_EQ(eval_window_count(stream, 8), 12);         // ⌊99 / 8⌋
  const LmBatch e = eval_windows(stream, 2, 3, 8);
  EXPECT_EQ(e.inputs[0][0].item<int64_t>(), 16);
  EXPECT_EQ(e.targets[2][7].item<int64_t>(), 40);
  EXPECT_EQ(tokens_to_text(text_to_tokens("héllo\n")), "héllo\n");
}

// ---- model ----

TEST(LmModel, ShapesCostsAndParameters) {
  const LmConfig c = tiny_model();
  torch::manual_seed(0);
  Lm model(c, LinearSpec::parse("dense"));
  const torch::Tensor logits = model->forward(torch::randint(256, {3, 20}, torch::kLong));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 20, 256}));
  const LmCost cost = lm_cost(c, LinearSpec::parse("dense"));
  const double linear = 2.0 * (4.0 * 32 * 32 + 3.0 * 32 * 64);  // q, k, v, o + gate, up, down, per block
  EXPECT_DOUBLE_EQ(cost.linear_flops, 2 * linear);
  EXPECT_DOUBLE_EQ(cost.linear_params, linear);  // = 2 blocks × linear / 2
  double params = 0;
  for (const auto& p : model->parameters()) params += static_cast<double>(p.numel());
  EXPECT_DOUBLE_EQ(params, cost.linear_params + 256 * 32 * 2 + 32 * (2 * 2 + 1));  // + embedding, head, norms
  EXPECT_EQ(LmConfig().mlp_hidden(), 704);  // 8/3 · 256 rounded up to 64
  EXPECT_EQ(LmConfig::parse(c.to_string()).to_string(), c.to_string());
  // STL <4,4,4> r=24: products 64/24 = 2.67× fewer than dense; encode/decode on top.
  const LmCost stl = lm_cost(c, LinearSpec::parse(kCausalStl));
  EXPECT_NEAR(cost.linear_flops / stl.linear_product_flops, 64.0 / 24.0, 1e-9);
  EXPECT_GT(stl.linear_flops, stl.linear_product_flops);
  EXPECT_THROW(Lm(tiny_model(), LinearSpec::parse("dense"))->forward(torch::zeros({1, 25}, torch::kLong)), c10::Error);
}

// Logits of `tokens` and of the same tokens with position `changed` replaced.
std::pair<torch::Tensor, torch::Tensor> logits_with_changed_token(const char* spec, int64_t changed) {
  torch::manual_seed(1);
  Lm model(tiny_model(), LinearSpec::parse(spec));
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::randint(256, {2, 16}, torch::kLong);
  torch::Tensor other = tokens.clone();
  other.select(1, changed).add_(1).remainder_(256);
  return {model->forward(tokens), model->forward(other)};
}

TEST(LmModel, FutureTokensDoNotChangeEarlierLogits) {
  for (const char* spec : {"dense", kCausalStl, kTokenLocalStl, "sparse24", "lowrank:match_rank=24"}) {
    for (const int64_t changed : {int64_t{9}, int64_t{12}, int64_t{15}}) {
      const auto [a, b] = logits_with_changed_token(spec, changed);
      const torch::Tensor diff = (a - b).abs().amax({0, 2});  // per position
      for (int64_t t = 0; t < changed; ++t)
        EXPECT_EQ(diff[t].item<float>(), 0.0f) << spec << ": token " << changed << " changed logits at " << t;
      EXPECT_GT(diff[changed].item<float>(), 0.0f) << spec;
    }
  }
}

TEST(LmModel, TileModeLeaksInsideATileWhichIsWhyItsPerplexityIsMarked) {
  EXPECT_TRUE(spec_leaks_future(LinearSpec::parse(kTileStl)));
  EXPECT_FALSE(spec_leaks_future(LinearSpec::parse(kCausalStl)));
  EXPECT_FALSE(spec_leaks_future(LinearSpec::parse(kTokenLocalStl)));
  const auto [a, b] = logits_with_changed_token(kTileStl, 9);  // tile of rows 8..11
  EXPECT_GT((a - b).abs().select(1, 8).max().item<float>(), 0.0f);
  EXPECT_EQ((a - b).abs().narrow(1, 0, 8).max().item<float>(), 0.0f);  // earlier tiles are untouched
}

// ---- training ----

LmTrainConfig tiny_training(const std::string& corpus) {
  LmTrainConfig c;
  c.model = tiny_model();
  c.model.depth = 1;
  c.batch = 8;
  c.tokens = 40 * 8 * 24;  // 40 steps
  c.lr = 1e-2;
  c.clip = 1.0;
  c.curve_points = 4;
  c.curve_tokens = 24 * 8;
  c.eval_batch = 16;
  c.eval_limit = 24 * 16;
  c.log_every = 0;
  c.decode_tokens = 8;
  c.data = corpus;
  return c;
}

double mean(const std::vector<double>& v, std::size_t first, std::size_t count) {
  return std::accumulate(v.begin() + static_cast<std::ptrdiff_t>(first),
                         v.begin() + static_cast<std::ptrdiff_t>(first + count), 0.0) /
         static_cast<double>(count);
}

TEST(LmTrain, LossFallsForEveryKindOfLinear) {
  torch::set_num_threads(1);
  const std::string dir = write_tiny_corpus("train", 2);
  const LmTrainConfig c = tiny_training(dir);
  const LmData data = load_lm_data(c.data, torch::kCPU, c.eval_limit);
  std::vector<LmRunResult> runs;
  for (const char* variant : {"dense", kCausalStl, kTokenLocalStl, kTileStl, "sparse24:mask=learned,every=4",
                              "lowrank:match_rank=24"}) {
    const LmRunResult r = train_lm_run(c, variant, 0, data, torch::kCPU);
    ASSERT_EQ(r.steps, 40) << variant;
    ASSERT_EQ(r.step_losses.size(), 40u) << variant;
    ASSERT_EQ(r.curve.size(), 4u) << variant;
    EXPECT_EQ(r.tokens, c.tokens) << variant;
    const double first = mean(r.step_losses, 0, 5), last = mean(r.step_losses, 35, 5);
    // ln 256 = 5.55 at the start; the tiny corpus has ten words, so a working model gets far below 3.
    EXPECT_LT(last, first - 1.5) << variant << ": loss " << first << " -> " << last;
    EXPECT_LT(r.val_loss, 3.5) << variant;
    EXPECT_GT(r.test_tokens, 0);
    EXPECT_EQ(r.leaks_future, std::string(variant) == kTileStl);
    EXPECT_TRUE(r.finished);
    // Incremental decoding is measured for every variant that can decode token by token.
    EXPECT_EQ(r.decode_tokens_per_second > 0, !r.leaks_future) << variant;
    runs.push_back(r);
  }
  const std::string json = lm_results_json(c, {dir, data.train.numel(), data.val.numel(), data.test.numel(), 2, 2, 2}, runs);
  for (const char* key : {"\"val_ppl\"", "\"test_ppl\"", "\"linear_product_flops_per_token\"", "\"curve\"",
                          "\"leaks_future\": true", "\"tokens_per_second\"", "\"decode_tokens_per_second\"",
                          "\"val_bits_per_byte\"", "\"finished\": true"})
    EXPECT_NE(json.find(key), std::string::npos) << key;
  remove_tree(dir);
}

// amp: training and evaluation forwards in bf16 autocast; the loss falls as in fp32 and the settings say so.
TEST(LmTrain, AmpTrainsInBf16) {
  torch::set_num_threads(1);
  const std::string dir = write_tiny_corpus("amp", 2);
  LmTrainConfig c = tiny_training(dir);
  c.amp = true;
  const LmData data = load_lm_data(c.data, torch::kCPU, c.eval_limit);
  for (const char* variant : {"dense", kCausalStl}) {
    const LmRunResult r = train_lm_run(c, variant, 0, data, torch::kCPU);
    const double first = mean(r.step_losses, 0, 5), last = mean(r.step_losses, 35, 5);
    EXPECT_LT(last, first - 1.5) << variant << ": loss " << first << " -> " << last;
    EXPECT_LT(r.val_loss, 3.5) << variant;
  }
  EXPECT_NE(lm_run_settings(c, "dense", 0).find("amp=bf16"), std::string::npos);
  c.amp = false;
  EXPECT_EQ(lm_run_settings(c, "dense", 0).find("amp"), std::string::npos);
  remove_tree(dir);
}

TEST(LmTrain, ConfigRejectsBadValuesNamingTheFlag) {
  EXPECT_NE(error_of({{"tokens", "10"}}).find("--tokens 10 is less than one step"), std::string::npos);
  EXPECT_NE(error_of({{"variants", "stl:rank=0"}}).find("rank must be >= 1"), std::string::npos);
  EXPECT_NE(error_of({{"dim", "30"}, {"heads", "4"}}).find("multiple of heads"), std::string::npos);
  EXPECT_NE(error_of({{"tf32", "yes"}}).find("--tf32"), std::string::npos);
  EXPECT_NE(error_of({{"amp", "fp16"}}).find("--amp must be off or bf16"), std::string::npos);
  EXPECT_TRUE(make_lm_train_config({{"amp", "bf16"}}).amp);
  EXPECT_EQ(make_lm_train_config({{"tokens", "16384"}, {"batch", "4"}, {"context", "64"}}).steps(), 64);
}

// Parameters of two `--save` checkpoints are identical.
void expect_same_parameters(const std::string& a, const std::string& b, const std::string& what) {
  const LoadedLm x = load_lm_checkpoint(a, torch::kCPU), y = load_lm_checkpoint(b, torch::kCPU);
  const auto px = x.model->parameters(), py = y.model->parameters();
  ASSERT_EQ(px.size(), py.size()) << what;
  for (std::size_t i = 0; i < px.size(); ++i) EXPECT_TRUE(torch::equal(px[i], py[i])) << what << " parameter " << i;
}

TEST(LmTrain, ResumingFromACheckpointEqualsTrainingWithoutStopping) {
  torch::set_num_threads(1);
  const std::string dir = write_tiny_corpus("resume", 2);
  const std::string scratch = temp_dir("resume_states");
  const LmData data = load_lm_data(dir, torch::kCPU, 24 * 16);
  for (const char* variant : {"dense", kCausalStl, "sparse24:mask=learned,every=3", "sparse24:mask=srste",
                              "monarch:match_rank=24"}) {
    LmTrainConfig c = tiny_training(dir);  // 40 steps, a curve point (and a saved state) every 10
    c.checkpoint_dir = scratch + "/whole";
    c.save = scratch + "/whole_";
    const LmRunResult whole = train_lm_run(c, variant, 0, data, torch::kCPU);
    ASSERT_TRUE(whole.finished) << variant;

    c.checkpoint_dir = scratch + "/split";
    c.save = scratch + "/split_";
    c.pause_after_steps = 13;  // between curve points: the pending losses and the generator must be saved too
    const LmRunResult first = train_lm_run(c, variant, 0, data, torch::kCPU);
    EXPECT_FALSE(first.finished) << variant;
    EXPECT_EQ(first.steps, 13) << variant;
    ASSERT_TRUE(is_regular_file(run_checkpoint_path(c.checkpoint_dir, first.variant, 0))) << variant;
    c.pause_after_steps = 20;
    const LmRunResult second = train_lm_run(c, variant, 0, data, torch::kCPU);
    EXPECT_EQ(second.resumed_from_step, 13) << variant;
    EXPECT_EQ(second.steps, 33) << variant;
    c.pause_after_steps = 0;
    const LmRunResult last = train_lm_run(c, variant, 0, data, torch::kCPU);
    ASSERT_TRUE(last.finished) << variant;
    EXPECT_EQ(last.resumed_from_step, 33) << variant;

    EXPECT_EQ(last.step_losses, whole.step_losses) << variant;
    ASSERT_EQ(last.curve.size(), whole.curve.size()) << variant;
    for (std::size_t i = 0; i < whole.curve.size(); ++i) {
      EXPECT_EQ(last.curve[i].train_loss, whole.curve[i].train_loss) << variant << " point " << i;
      EXPECT_EQ(last.curve[i].val_loss, whole.curve[i].val_loss) << variant << " point " << i;
    }
    EXPECT_EQ(last.val_loss, whole.val_loss) << variant;
    EXPECT_EQ(last.test_loss, whole.test_loss) << variant;
    expect_same_parameters(whole.checkpoint, last.checkpoint, variant);

    // A finished run is reported from its state (history only, much smaller) without training again.
    const std::string state = run_checkpoint_path(c.checkpoint_dir, last.variant, 0);
    EXPECT_LT(std::ifstream(state, std::ios::binary | std::ios::ate).tellg(), 16384) << variant;
    c.save.clear();
    const LmRunResult again = train_lm_run(c, variant, 0, data, torch::kCPU);
    EXPECT_TRUE(again.finished);
    EXPECT_EQ(again.step_losses, whole.step_losses) << variant;
    EXPECT_EQ(again.test_loss, whole.test_loss) << variant;
    EXPECT_EQ(again.decode_tokens_per_second, last.decode_tokens_per_second) << variant;
  }
  remove_tree(scratch);
  remove_tree(dir);
}

TEST(LmTrain, ResumingUnderOtherSettingsIsRefused) {
  torch::set_num_threads(1);
  const std::string dir = write_tiny_corpus("resume_refused", 2);
  const LmData data = load_lm_data(dir, torch::kCPU, 24 * 16);
  LmTrainConfig c = tiny_training(dir);
  c.checkpoint_dir = temp_dir("resume_refused_states");
  c.pause_after_steps = 5;
  train_lm_run(c, "dense", 0, data, torch::kCPU);
  c.lr = 5e-3;
  try {
    train_lm_run(c, "dense", 0, data, torch::kCPU);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("written under other settings"), std::string::npos) << e.what();
  }
  remove_tree(c.checkpoint_dir);
  remove_tree(dir);
}

TEST(LmTrain, ConfigFileAddsVariantsAndNamesBadLines) {
  const std::string dir = temp_dir("config");
  write_file(dir + "/good.cfg", "# comment\ndim = 64  # width\nheads = 2\nvariant = dense\nvariant = monarch:match_rank=24\n"
                                "corpus = python,linux,llvm\ncheckpoint-dir = /tmp/x\n");
  const LmTrainConfig c = make_lm_train_config(read_lm_config_file(dir + "/good.cfg"));
  EXPECT_EQ(c.model.dim, 64);
  EXPECT_EQ(c.variants, (std::vector<std::string>{"dense", "monarch:match_rank=24"}));
  EXPECT_EQ(c.corpus, (std::vector<std::string>{"python", "linux", "llvm"}));
  write_file(dir + "/bad.cfg", "dim = 64\nwidth = 3\n");
  try {
    read_lm_config_file(dir + "/bad.cfg");
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("bad.cfg:2: unknown key 'width'"), std::string::npos) << e.what();
  }
  EXPECT_NE(error_of({{"corpus", "python,perl"}}).find("--corpus: unknown text source 'perl'"), std::string::npos);
  EXPECT_NE(error_of({{"pause-after-steps", "3"}}).find("needs --checkpoint-dir"), std::string::npos);
  EXPECT_NE(error_of({{"decode-tokens", "999"}}).find("--decode-tokens 999 exceeds --context 256"), std::string::npos);
  remove_tree(dir);
}

TEST(LmModel, EveryScaledVariantBuildsAtTheConvergenceWidths) {
  // The model of research/train/lm_convergence.cfg: width 384, 8 blocks, 6 heads, SwiGLU 1024, context 512.
  LmConfig c;
  c.dim = 384;
  c.depth = 8;
  c.heads = 6;
  c.context = 512;
  EXPECT_EQ(c.mlp_hidden(), 1024);
  const LmCost dense = lm_cost(c, LinearSpec::parse("dense"));
  EXPECT_EQ(dense.dense_linear_params, 8.0 * (4 * 384 * 384 + 3 * 384 * 1024));  // 14,155,776
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::randint(256, {1, 8}, torch::kLong);
  for (const char* spec : {"stl:tile=1x4x4,rank=7,mode=token-local", kCausalStl, "sparse24:mask=srste",
                           "monarch:match_rank=24", "lowrank:match_rank=24"}) {
    torch::manual_seed(0);
    Lm model(c, LinearSpec::parse(spec));
    EXPECT_EQ(model->forward(tokens).sizes(), (std::vector<int64_t>{1, 8, 256})) << spec;
    const LmCost cost = lm_cost(c, LinearSpec::parse(spec));
    EXPECT_LT(cost.linear_flops, dense.linear_flops) << spec;
  }
}

// ---- incremental decoding ----

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

TEST(LmDecoder, IncrementalLogitsEqualTheFullForward) {
  for (const char* spec : {"dense", kCausalStl}) {
    torch::manual_seed(2);
    Lm model(tiny_model(), LinearSpec::parse(spec));
    model->eval();
    const torch::Tensor tokens = torch::randint(256, {2, 19}, torch::kLong);  // 19: the last tile is partial
    const torch::Tensor full = prefix_logits(*model, tokens, false), step = prefix_logits(*model, tokens, true);
    ASSERT_EQ(step.sizes(), full.sizes());
    EXPECT_LE(relative_error(step, full), 1e-5) << spec;
    for (int64_t t = 0; t < 19; ++t)
      EXPECT_LE(relative_error(step.select(1, t), full.select(1, t)), 1e-5) << spec << " position " << t;
  }
}

TEST(LmDecoder, TileModeRefusesIncrementalDecodingButRecomputes) {
  torch::manual_seed(4);
  Lm model(tiny_model(), LinearSpec::parse(kTileStl));
  try {
    LmDecoder decoder(*model, 1);
    FAIL() << "expected an error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--recompute"), std::string::npos) << e.what();
  }
  GenerateOptions o;
  o.incremental = false;
  o.max_new_tokens = 5;
  o.stop_at_document_end = false;
  EXPECT_EQ(generate_text(*model, "ab", o).new_tokens, 5);
}

TEST(LmDecoder, CheckpointRoundTripAndGenerationAgree) {
  const std::string dir = temp_dir("checkpoint");
  torch::manual_seed(3);
  Lm model(tiny_model(), LinearSpec::parse(kCausalStl));
  const std::string path = dir + "/lm.pt";
  save_lm_checkpoint(path, *model, LinearSpec::parse(kCausalStl).to_string());
  LoadedLm loaded = load_lm_checkpoint(path, torch::kCPU);
  EXPECT_EQ(loaded.variant, LinearSpec::parse(kCausalStl).to_string());
  model->eval();
  const torch::Tensor tokens = torch::randint(256, {1, 12}, torch::kLong);
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(torch::equal(loaded.model->forward(tokens), model->forward(tokens)));
  GenerateOptions o;
  o.max_new_tokens = 30;
  o.temperature = 0;  // greedy: both decoders must pick the same bytes
  o.stop_at_document_end = false;
  const Generated inc = generate_text(*loaded.model, "Hello", o);
  o.incremental = false;
  const Generated full = generate_text(*loaded.model, "Hello", o);
  EXPECT_EQ(inc.text, full.text);
  EXPECT_EQ(inc.new_tokens, 19);  // 5 + 19 = the context of 24
  EXPECT_TRUE(inc.hit_context);
  EXPECT_THROW(load_lm_checkpoint(dir + "/missing.pt", torch::kCPU), std::runtime_error);
  remove_tree(dir);
}

}  // namespace
}  // namespace strassentile::train
