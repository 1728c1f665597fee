/**
 * The security questions Latchkey ships. Ids are stable forever (registrations store them); the
 * text may be reworded or translated, never its meaning. Chosen to have answers that are personal,
 * stable over years and hard to look up on social media; a tenant adds its own in
 * settings.questions.custom (ids must not collide with these: they never start with "lk.").
 */
export interface SecurityQuestion {
  id: string;
  text: string;
}

export const QUESTION_CATALOGUE: readonly SecurityQuestion[] = [
  { id: "lk.childhood-friend", text: "What was the first name of your best friend in primary school?" },
  { id: "lk.first-pet", text: "What was the name of your first pet?" },
  { id: "lk.first-street", text: "What was the name of the street you lived on as a child?" },
  { id: "lk.first-teacher", text: "What was the surname of your first school teacher?" },
  { id: "lk.first-concert", text: "Which band or artist did you see at your first concert?" },
  { id: "lk.first-car", text: "What were the make and model of the first car you owned?" },
  { id: "lk.grandparent-town", text: "In which town or village did one of your grandparents live?" },
  { id: "lk.childhood-hero", text: "Who was your childhood hero?" },
  { id: "lk.first-job", text: "What was the name of the company where you had your first job?" },
  { id: "lk.childhood-nickname", text: "What was your childhood nickname?" },
  { id: "lk.first-book", text: "What was the first book you remember reading on your own?" },
  { id: "lk.dream-job", text: "What did you want to be when you grew up?" },
  { id: "lk.parents-met", text: "In which city did your parents meet?" },
  { id: "lk.first-holiday", text: "Where did you go on the first holiday you can remember?" },
  { id: "lk.oldest-cousin", text: "What is the first name of your oldest cousin?" },
] as const;

/** The questions a tenant offers: the catalogue plus its own (custom ids may not shadow ours). */
export function availableQuestions(custom: readonly SecurityQuestion[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const q of QUESTION_CATALOGUE) out.set(q.id, q.text);
  for (const q of custom) if (!out.has(q.id)) out.set(q.id, q.text);
  return out;
}
