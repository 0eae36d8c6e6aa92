#include "compiler/diff/render.h"

#include <fmt/format.h>

#include <map>

#include "compiler/emit/diagnostics.h"
#include "json/json.h"

namespace allot::diff {
namespace {

std::string esc(const std::string& s) { return emit::escape_controls(s); }
std::string q(const std::string& s) { return "`" + esc(s) + "`"; }

const char* side_name(Side s) { return s == Side::old_policy ? "OLD" : "NEW"; }
const char* other_side(Side s) { return s == Side::old_policy ? "NEW" : "OLD"; }

bool shown(const ScopeDiff& s) {
  return s.change != Change::unchanged || !s.settings.empty() || s.relation != Relation::equivalent;
}

bool row_changed(const ResourceRow& r) { return !(r.old_effect == r.new_effect); }

std::string state_text(const std::vector<Usage>& state) {
  std::vector<std::string> parts;
  parts.reserve(state.size());
  for (const Usage& u : state) {
    parts.push_back(
        u.own == u.used || u.own.rfind("0 ", 0) == 0
            ? fmt::format("{} uses {}{}", q(u.scope), esc(u.used), u.own == u.used ? " inside its guarantee" : "")
            : fmt::format("{} uses {}, {} inside its guarantee", q(u.scope), esc(u.used), esc(u.own)));
  }
  return parts.empty() ? std::string("the empty state") : fmt::format("{}", fmt::join(parts, "; "));
}

std::string gpus(model::Amount milli) {
  return milli % 1000 == 0 ? fmt::format("{} gpu", milli / 1000)
                           : fmt::format("{}.{:03} gpu", milli / 1000, milli % 1000);
}

std::string jobs_text(const Jobs& j) {
  return fmt::format("{} x {} ({}, user {}) in {}", j.count, gpus(j.gpu_milli), j.kind, esc(j.user), q(j.queue));
}

std::string job_text(const JobWitness& w) {
  std::vector<std::string> running;
  for (const Jobs& j : w.running) running.push_back(jobs_text(j));
  std::string text = running.empty() ? "on an idle pool, " : fmt::format("while {} run, ", fmt::join(running, " and "));
  text += fmt::format("a job of {} ({}, user {}) to {}: OLD {}, NEW {}", gpus(w.job.gpu_milli), w.job.kind,
                      esc(w.job.user), q(w.job.queue), to_string(w.old_outcome), to_string(w.new_outcome));
  return text;
}

std::string paint(bool color, int code, const std::string& text) {
  return color ? fmt::format("\x1b[{}m{}\x1b[0m", code, text) : text;
}

int relation_color(Relation r) {
  switch (r) {
    case Relation::equivalent:
      return 32;
    case Relation::stricter:
      return 33;
    case Relation::looser:
      return 36;
    case Relation::incomparable:
      return 35;
  }
  return 0;
}

std::string change_text(const ScopeDiff& s) {
  switch (s.change) {
    case Change::added:
      return " (added)";
    case Change::removed:
      return " (removed)";
    case Change::renamed:
      return fmt::format(" (renamed from {})", q(s.renamed_from));
    case Change::unchanged:
      return "";
  }
  return "";
}

std::string named_text(const NamedChange& c) {
  switch (c.change) {
    case Change::added:
      return fmt::format("{} {} added", c.kind, q(c.name));
    case Change::removed:
      return fmt::format("{} {} removed", c.kind, q(c.name));
    case Change::renamed:
      return fmt::format("{} {} renamed to {}", c.kind, q(c.renamed_from), q(c.name));
    case Change::unchanged:
      return fmt::format("{} {} changed", c.kind, q(c.name));
  }
  return "";
}

std::string edge_text(const PreemptionEdge& e) {
  return fmt::format("{} may preempt {} ({})", q(e.preemptor), q(e.victim), e.rule);
}

std::string grant_text(const Grant& g) {
  return fmt::format("{} may {} on {}", esc(g.principal), g.permission, q(g.queue));
}

}  // namespace

std::string summary(const PolicyDiff& diff) {
  if (!diff.changed()) return "no semantic change";
  // The highest scopes whose relation is not equivalent: those under an
  // equivalent parent (or roots); their descendants follow from them.
  std::map<std::string, Relation> relation_of;
  for (const ScopeDiff& s : diff.scopes) relation_of[s.path] = s.relation;
  std::vector<std::string> parts;
  for (Relation r : {Relation::stricter, Relation::looser, Relation::incomparable}) {
    std::vector<std::string> names;
    for (const ScopeDiff& s : diff.scopes) {
      if (s.relation != r) continue;
      const auto parent = relation_of.find(s.parent);
      if (!s.parent.empty() && parent != relation_of.end() && parent->second != Relation::equivalent) continue;
      names.push_back(q(s.path));
    }
    if (!names.empty()) {
      parts.push_back(
          fmt::format("{} for {}", r == Relation::incomparable ? "changed" : to_string(r), fmt::join(names, ", ")));
    }
  }
  auto count = [&](std::size_t n, const char* one, const char* many) {
    if (n > 0) parts.push_back(fmt::format("{} {}", n, n == 1 ? one : many));
  };
  std::size_t renamed = 0, settings = 0;
  for (const ScopeDiff& s : diff.scopes) {
    renamed += s.change == Change::renamed ? 1 : 0;
    settings += s.settings.size();
  }
  count(renamed, "scope renamed", "scopes renamed");
  count(settings, "setting changed", "settings changed");
  count(diff.preemption_gained.size(), "preemption edge gained", "preemption edges gained");
  count(diff.preemption_lost.size(), "preemption edge lost", "preemption edges lost");
  count(diff.grants_gained.size(), "permission gained", "permissions gained");
  count(diff.grants_lost.size(), "permission lost", "permissions lost");
  count(diff.others.size(), "other change", "other changes");
  count(diff.unknown.size(), "relation not proved", "relations not proved");
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string render_text(const PolicyDiff& diff, const RenderOptions& o) {
  std::string out = fmt::format("{} {} -> {}\n", paint(o.color, 1, "diff"), esc(o.old_name), esc(o.new_name));
  std::size_t unchanged = 0;
  for (const ScopeDiff& s : diff.scopes) {
    if (!shown(s)) {
      ++unchanged;
      continue;
    }
    out += fmt::format("\n{} {}{}: {}\n", s.kind, paint(o.color, 1, q(s.path)), change_text(s),
                       paint(o.color, relation_color(s.relation), to_string(s.relation)));
    for (const ResourceRow& r : s.rows) {
      if (!row_changed(r) && s.change == Change::unchanged) continue;
      out += fmt::format("  {}: {} -> {}\n", r.resource, esc(r.old_text), esc(r.new_text));
    }
    for (const std::string& setting : s.settings) out += fmt::format("  {}\n", esc(setting));
    for (const Witness& w : s.witnesses) {
      out += fmt::format("  witness: {} allows {}; {} does not\n", side_name(w.allowed_by), state_text(w.state),
                         other_side(w.allowed_by));
      if (w.job) {
        out += fmt::format("    job: {}\n", job_text(*w.job));
        out += fmt::format("    because {}\n", esc(w.job->reason));
      }
    }
  }
  if (unchanged > 0) out += fmt::format("\n{} scope{} unchanged\n", unchanged, unchanged == 1 ? "" : "s");
  auto list = [&](const char* title, const auto& items, auto text) {
    if (items.empty()) return;
    out += fmt::format("\n{}:\n", title);
    for (const auto& item : items) out += fmt::format("  {}\n", text(item));
  };
  list("preemption gained", diff.preemption_gained, edge_text);
  list("preemption lost", diff.preemption_lost, edge_text);
  list("permissions gained", diff.grants_gained, grant_text);
  list("permissions lost", diff.grants_lost, grant_text);
  for (const JobWitness& w : diff.grant_witnesses) {
    out += fmt::format("  job: {}\n    because {}\n", job_text(w), esc(w.reason));
  }
  if (!diff.others.empty()) {
    out += "\nother changes:\n";
    for (const NamedChange& c : diff.others) {
      out += fmt::format("  {}\n", named_text(c));
      for (const std::string& d : c.details) out += fmt::format("    {}\n", esc(d));
    }
  }
  out += fmt::format("\nwhole policy: {}\n",
                     paint(o.color, relation_color(diff.relation), std::string(to_string(diff.relation))));
  for (const Witness& w : diff.witnesses) {
    out += fmt::format("  witness: {} allows {}; {} does not\n", side_name(w.allowed_by), state_text(w.state),
                       other_side(w.allowed_by));
  }
  for (const std::string& u : diff.unknown) out += fmt::format("  not proved: {}\n", esc(u));
  out += fmt::format("{}: {}\n", paint(o.color, 1, "summary"), summary(diff));
  return out;
}

namespace {

void write_effect(json::Writer& w, const Effect& e) {
  if (!e.present) {
    w.null();
    return;
  }
  w.begin_object().key("guarantee").value(e.guarantee).key("limit");
  if (e.limit) {
    w.value(*e.limit);
  } else {
    w.null();
  }
  w.end_object();
}

void write_job(json::Writer& w, const JobWitness& x) {
  auto jobs = [&](const Jobs& j) {
    w.begin_object().key("queue").value(j.queue).key("user").value(j.user).key("kind").value(j.kind);
    w.key("count").value(j.count).key("gpu_milli").value(j.gpu_milli).end_object();
  };
  w.begin_object().key("running").begin_array();
  for (const Jobs& j : x.running) jobs(j);
  w.end_array().key("submit");
  jobs(x.job);
  w.key("old").value(to_string(x.old_outcome)).key("new").value(to_string(x.new_outcome));
  w.key("reason").value(x.reason).end_object();
}

void write_witness(json::Writer& w, const Witness& x) {
  w.begin_object().key("allowed_by").value(x.allowed_by == Side::old_policy ? "old" : "new");
  w.key("state").begin_array();
  for (const Usage& u : x.state) {
    w.begin_object().key("scope").value(u.scope).key("resource").value(u.resource).key("used").value(u.used);
    w.key("own").value(u.own).end_object();
  }
  w.end_array();
  if (x.job) {
    w.key("job");
    write_job(w, *x.job);
  }
  w.end_object();
}

}  // namespace

std::string render_json(const PolicyDiff& diff, const RenderOptions& o) {
  json::Writer w;
  w.begin_object().key("old").value(o.old_name).key("new").value(o.new_name);
  w.key("changed").value(diff.changed()).key("relation").value(to_string(diff.relation));
  w.key("summary").value(summary(diff));
  w.key("scopes").begin_array();
  for (const ScopeDiff& s : diff.scopes) {
    if (!shown(s)) continue;
    w.begin_object().key("path").value(s.path).key("kind").value(s.kind).key("change").value(to_string(s.change));
    if (s.change == Change::renamed) w.key("renamed_from").value(s.renamed_from);
    w.key("relation").value(to_string(s.relation)).key("resources").begin_array();
    for (const ResourceRow& r : s.rows) {
      w.begin_object().key("resource").value(r.resource).key("old");
      write_effect(w, r.old_effect);
      w.key("new");
      write_effect(w, r.new_effect);
      w.key("old_text").value(r.old_text).key("new_text").value(r.new_text).end_object();
    }
    w.end_array().key("settings").begin_array();
    for (const std::string& x : s.settings) w.value(x);
    w.end_array().key("witnesses").begin_array();
    for (const Witness& x : s.witnesses) write_witness(w, x);
    w.end_array().end_object();
  }
  w.end_array();
  auto edges = [&](const char* key, const std::vector<PreemptionEdge>& items) {
    w.key(key).begin_array();
    for (const PreemptionEdge& e : items) {
      w.begin_object().key("preemptor").value(e.preemptor).key("victim").value(e.victim).key("rule").value(e.rule);
      w.end_object();
    }
    w.end_array();
  };
  edges("preemption_gained", diff.preemption_gained);
  edges("preemption_lost", diff.preemption_lost);
  auto grants = [&](const char* key, const std::vector<Grant>& items) {
    w.key(key).begin_array();
    for (const Grant& g : items) {
      w.begin_object().key("queue").value(g.queue).key("principal").value(g.principal);
      w.key("permission").value(g.permission).end_object();
    }
    w.end_array();
  };
  grants("permissions_gained", diff.grants_gained);
  grants("permissions_lost", diff.grants_lost);
  w.key("permission_witnesses").begin_array();
  for (const JobWitness& j : diff.grant_witnesses) {
    write_job(w, j);
  }
  w.end_array();
  w.key("other_changes").begin_array();
  for (const NamedChange& c : diff.others) {
    w.begin_object().key("kind").value(c.kind).key("name").value(c.name).key("change").value(to_string(c.change));
    if (c.change == Change::renamed) w.key("renamed_from").value(c.renamed_from);
    w.key("details").begin_array();
    for (const std::string& d : c.details) w.value(d);
    w.end_array().end_object();
  }
  w.end_array().key("witnesses").begin_array();
  for (const Witness& x : diff.witnesses) write_witness(w, x);
  w.end_array().key("not_proved").begin_array();
  for (const std::string& u : diff.unknown) w.value(u);
  w.end_array().end_object();
  return w.str();
}

std::string render_markdown(const PolicyDiff& diff, const RenderOptions& o) {
  auto cell = [](const std::string& s) {
    std::string out;
    for (char c : esc(s)) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::string out = fmt::format("### `allot diff` {} → {}\n\n**{}**; the whole policy is *{}*.\n", cell(o.old_name),
                                cell(o.new_name), summary(diff), to_string(diff.relation));
  bool header = false;
  for (const ScopeDiff& s : diff.scopes) {
    if (!shown(s)) continue;
    for (const ResourceRow& r : s.rows) {
      if (!row_changed(r) && s.change == Change::unchanged) continue;
      if (!header) {
        out += "\n| scope | kind | resource | old | new | relation |\n|---|---|---|---|---|---|\n";
        header = true;
      }
      out += fmt::format("| {}{} | {} | {} | {} | {} | {} |\n", q(s.path), cell(change_text(s)), s.kind, r.resource,
                         cell(r.old_text), cell(r.new_text), to_string(s.relation));
    }
  }
  std::string details;
  for (const ScopeDiff& s : diff.scopes) {
    if (!shown(s) || (s.settings.empty() && s.witnesses.empty())) continue;
    details += fmt::format("\n**{}** ({}{})\n\n", q(s.path), s.kind, change_text(s));
    for (const std::string& setting : s.settings) details += fmt::format("- {}\n", esc(setting));
    for (const Witness& w : s.witnesses) {
      details += fmt::format("- witness: {} allows {}; {} does not\n", side_name(w.allowed_by), state_text(w.state),
                             other_side(w.allowed_by));
      if (w.job) details += fmt::format("  - job: {}\n  - because {}\n", job_text(*w.job), esc(w.job->reason));
    }
  }
  if (!details.empty()) out += "\n#### Witnesses and settings\n" + details;
  auto list = [&](const char* title, const auto& items, auto text) {
    if (items.empty()) return;
    out += fmt::format("\n#### {}\n\n", title);
    for (const auto& item : items) out += fmt::format("- {}\n", text(item));
  };
  list("Preemption gained", diff.preemption_gained, edge_text);
  list("Preemption lost", diff.preemption_lost, edge_text);
  list("Permissions gained", diff.grants_gained, grant_text);
  list("Permissions lost", diff.grants_lost, grant_text);
  for (const JobWitness& w : diff.grant_witnesses) {
    out += fmt::format("- job: {}\n  - because {}\n", job_text(w), esc(w.reason));
  }
  if (!diff.others.empty()) {
    out += "\n#### Other changes\n\n";
    for (const NamedChange& c : diff.others) {
      out += fmt::format("- {}\n", named_text(c));
      for (const std::string& d : c.details) out += fmt::format("  - {}\n", esc(d));
    }
  }
  if (!diff.witnesses.empty() || !diff.unknown.empty()) {
    out += "\n#### Whole policy\n\n";
    for (const Witness& w : diff.witnesses) {
      out += fmt::format("- witness: {} allows {}; {} does not\n", side_name(w.allowed_by), state_text(w.state),
                         other_side(w.allowed_by));
    }
    for (const std::string& u : diff.unknown) out += fmt::format("- not proved: {}\n", esc(u));
  }
  return out;
}

}  // namespace allot::diff
