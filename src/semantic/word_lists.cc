#include "semantic/word_lists.h"

#include <unordered_map>

#include "semantic/text_chars.h"

namespace deja::semantic {

using text_internal::SameWord;

bool IsDayWord(std::string_view lower) {
  static constexpr std::string_view kWords[] = {"monday",  "tuesday",  "wednesday", "thursday",
                                                "friday",  "saturday", "sunday",    "today",
                                                "tonight", "tomorrow", "yesterday"};
  for (std::string_view w : kWords) {
    if (SameWord(lower, w)) return true;
  }
  return false;
}

// Lower-cased words after which a '.' does not end a sentence.
bool IsAbbreviation(std::string_view lower) {
  if (lower.size() == 1) return true;  // initials, "e.g.", "i.e."
  static constexpr std::string_view kAbbrev[] = {"mr", "mrs", "ms",  "dr",  "st", "vs",    "prof",
                                                 "jr", "sr",  "inc", "ltd", "no", "approx"};
  for (std::string_view a : kAbbrev) {
    if (SameWord(lower, a)) return true;
  }
  return false;
}

// Month number (1-12) of a month name or abbreviation; 0 otherwise. "May", "March" and "Mar" must
// be capitalized (they are also common words).
int MonthOf(std::string_view word, std::string_view lower) {
  static constexpr std::string_view kFull[] = {"january",   "february", "march",    "april",
                                               "may",       "june",     "july",     "august",
                                               "september", "october",  "november", "december"};
  static constexpr std::string_view kShort[] = {"jan", "feb", "mar", "apr", "",    "jun",
                                                "jul", "aug", "sep", "oct", "nov", "dec"};
  if (word.size() < 3 || word.size() > 9 ||
      std::string_view("jfmasond").find(lower[0]) == std::string_view::npos) {
    return 0;
  }
  const bool capital = word[0] >= 'A' && word[0] <= 'Z';
  for (int m = 0; m < 12; ++m) {
    if (SameWord(lower, kFull[m]) || SameWord(lower, kShort[m]) ||
        (m == 8 && SameWord(lower, "sept"))) {
      if ((m == 2 || m == 4) && !capital) return 0;
      return m + 1;
    }
  }
  return 0;
}

std::string_view CanonicalUnit(std::string_view lower_word) {
  static const auto* const kUnits = new std::unordered_map<std::string_view, std::string_view>{
      // length
      {"mm", "mm"},
      {"millimeter", "mm"},
      {"millimeters", "mm"},
      {"millimetre", "mm"},
      {"millimetres", "mm"},
      {"cm", "cm"},
      {"centimeter", "cm"},
      {"centimeters", "cm"},
      {"centimetre", "cm"},
      {"centimetres", "cm"},
      {"m", "m"},
      {"meter", "m"},
      {"meters", "m"},
      {"metre", "m"},
      {"metres", "m"},
      {"km", "km"},
      {"kilometer", "km"},
      {"kilometers", "km"},
      {"kilometre", "km"},
      {"kilometres", "km"},
      {"inch", "in"},
      {"inches", "in"},
      {"ft", "ft"},
      {"foot", "ft"},
      {"feet", "ft"},
      {"yd", "yd"},
      {"yard", "yd"},
      {"yards", "yd"},
      {"mi", "mi"},
      {"mile", "mi"},
      {"miles", "mi"},
      // mass
      {"mg", "mg"},
      {"milligram", "mg"},
      {"milligrams", "mg"},
      {"g", "g"},
      {"gram", "g"},
      {"grams", "g"},
      {"kg", "kg"},
      {"kgs", "kg"},
      {"kilo", "kg"},
      {"kilos", "kg"},
      {"kilogram", "kg"},
      {"kilograms", "kg"},
      {"lb", "lb"},
      {"lbs", "lb"},
      {"pound", "lb"},
      {"pounds", "lb"},
      {"oz", "oz"},
      {"ounce", "oz"},
      {"ounces", "oz"},
      {"ton", "t"},
      {"tons", "t"},
      {"tonne", "t"},
      {"tonnes", "t"},
      // volume
      {"ml", "ml"},
      {"milliliter", "ml"},
      {"milliliters", "ml"},
      {"millilitre", "ml"},
      {"millilitres", "ml"},
      {"l", "l"},
      {"liter", "l"},
      {"liters", "l"},
      {"litre", "l"},
      {"litres", "l"},
      {"gal", "gal"},
      {"gallon", "gal"},
      {"gallons", "gal"},
      {"cup", "cup"},
      {"cups", "cup"},
      {"tbsp", "tbsp"},
      {"tablespoon", "tbsp"},
      {"tablespoons", "tbsp"},
      {"tsp", "tsp"},
      {"teaspoon", "tsp"},
      {"teaspoons", "tsp"},
      {"pint", "pt"},
      {"pints", "pt"},
      {"quart", "qt"},
      {"quarts", "qt"},
      // time
      {"ms", "ms"},
      {"millisecond", "ms"},
      {"milliseconds", "ms"},
      {"s", "s"},
      {"sec", "s"},
      {"secs", "s"},
      {"second", "s"},
      {"seconds", "s"},
      {"min", "min"},
      {"mins", "min"},
      {"minute", "min"},
      {"minutes", "min"},
      {"h", "h"},
      {"hr", "h"},
      {"hrs", "h"},
      {"hour", "h"},
      {"hours", "h"},
      {"day", "d"},
      {"days", "d"},
      {"week", "wk"},
      {"weeks", "wk"},
      {"month", "mo"},
      {"months", "mo"},
      {"year", "yr"},
      {"years", "yr"},
      {"yr", "yr"},
      {"yrs", "yr"},
      // data, frequency, power
      {"byte", "B"},
      {"bytes", "B"},
      {"kb", "kb"},
      {"kib", "kb"},
      {"mb", "mb"},
      {"mib", "mb"},
      {"gb", "gb"},
      {"gib", "gb"},
      {"tb", "tb"},
      {"tib", "tb"},
      {"bit", "bit"},
      {"bits", "bit"},
      {"kbps", "kbps"},
      {"mbps", "mbps"},
      {"gbps", "gbps"},
      {"hz", "hz"},
      {"khz", "khz"},
      {"mhz", "mhz"},
      {"ghz", "ghz"},
      {"w", "w"},
      {"watt", "w"},
      {"watts", "w"},
      {"kw", "kw"},
      {"kwh", "kwh"},
      {"v", "v"},
      {"volt", "v"},
      {"volts", "v"},
      {"mah", "mah"},
      {"amp", "a"},
      {"amps", "a"},
      // temperature, percent, energy, area, speed
      {"degree", "deg"},
      {"degrees", "deg"},
      {"celsius", "degc"},
      {"fahrenheit", "degf"},
      {"kelvin", "k"},
      {"percent", "%"},
      {"pct", "%"},
      {"kcal", "kcal"},
      {"cal", "cal"},
      {"calorie", "cal"},
      {"calories", "cal"},
      {"acre", "acre"},
      {"acres", "acre"},
      {"hectare", "ha"},
      {"hectares", "ha"},
      {"sqft", "sqft"},
      {"mph", "mph"},
      {"kph", "kph"},
      // currency
      {"usd", "usd"},
      {"dollar", "usd"},
      {"dollars", "usd"},
      {"eur", "eur"},
      {"euro", "eur"},
      {"euros", "eur"},
      {"gbp", "gbp"},
      {"jpy", "jpy"},
      {"yen", "jpy"},
      {"cent", "cent"},
      {"cents", "cent"},
      {"btc", "btc"},
      {"bitcoin", "btc"},
      {"bitcoins", "btc"}};
  auto it = kUnits->find(lower_word);
  return it == kUnits->end() ? std::string_view() : it->second;
}

std::string_view NumberWordValue(std::string_view lower_word) {
  static constexpr std::string_view kWords[][2] = {{"zero", "0"},
                                                   {"two", "2"},
                                                   {"three", "3"},
                                                   {"four", "4"},
                                                   {"five", "5"},
                                                   {"six", "6"},
                                                   {"seven", "7"},
                                                   {"eight", "8"},
                                                   {"nine", "9"},
                                                   {"ten", "10"},
                                                   {"eleven", "11"},
                                                   {"twelve", "12"},
                                                   {"thirteen", "13"},
                                                   {"fourteen", "14"},
                                                   {"fifteen", "15"},
                                                   {"sixteen", "16"},
                                                   {"seventeen", "17"},
                                                   {"eighteen", "18"},
                                                   {"nineteen", "19"},
                                                   {"twenty", "20"},
                                                   {"thirty", "30"},
                                                   {"forty", "40"},
                                                   {"fifty", "50"},
                                                   {"sixty", "60"},
                                                   {"seventy", "70"},
                                                   {"eighty", "80"},
                                                   {"ninety", "90"},
                                                   {"hundred", "100"},
                                                   {"thousand", "1000"},
                                                   {"million", "1000000"},
                                                   {"billion", "1000000000"},
                                                   {"dozen", "12"}};
  if (lower_word.size() < 3 || lower_word.size() > 9 ||
      std::string_view("ztfsenhmbd").find(lower_word[0]) == std::string_view::npos) {
    return {};
  }
  for (const auto& [word, value] : kWords) {
    if (SameWord(lower_word, word)) return value;
  }
  return {};
}

}  // namespace deja::semantic
