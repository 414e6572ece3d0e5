// The page's screen-reader announcement of a finished reply (components/announcer.py). The text sits in an element
// keyed by the reply, so a new reply's announcement is a new node in the live region, read out even when its text
// is the same as the last one's.
export default {
  template: `
    <div aria-live="polite" role="status" class="sr-only" :data-reply="reply || undefined">
      <div v-if="text" :key="reply">{{ text }}</div>
    </div>`,
  props: {
    reply: { type: String, default: "" },
    text: { type: String, default: "" },
  },
};
