// One message's frame as one element (components/message_frame.py): who wrote it, the bubble (its contents are the
// element's children: the reply's markdown, a prompt's thumbnails, the reasoning; plus a prompt's text), the waiting
// dots, the outcome notice, the stats line and the buttons. The server sends props; each press of a button comes
// back as one "act" event with the button's name. The markup and classes are what the page had as separate NiceGUI
// elements (column, label, card, label, spinner, label, toolbar), so the CSS hooks and the tests' selectors hold.
export default {
  template: `
    <div class="nicegui-column nc-message w-full gap-1" :class="mine ? 'items-end' : 'items-start'" :data-role="role">
      <div class="text-xs text-gray-500">{{ mine ? 'You' : 'Assistant' }}</div>
      <q-card v-show="!editing" flat bordered class="nicegui-card nc-bubble max-w-full"
              :class="mine ? 'nc-user' : 'nc-assistant'">
        <q-spinner-dots v-if="waiting" size="lg" color="primary" aria-label="Waiting for the model" />
        <slot></slot>
        <div v-if="mine" class="whitespace-pre-wrap">{{ text }}</div>
        <div v-if="notice" class="text-sm" :class="tone" :role="alert || undefined">{{ notice }}</div>
      </q-card>
      <div v-if="stats" class="text-xs text-gray-500">{{ stats }}</div>
      <slot name="editor"></slot>
      <div v-if="buttons.length" v-show="!editing" class="nc-actions row items-center no-wrap" role="toolbar"
           aria-label="Message actions">
        <template v-for="button in buttons" :key="button.name">
          <span v-if="button.name === 'version'" class="text-xs text-gray-600">{{ button.text }}</span>
          <q-btn v-else flat dense no-caps size="sm" :round="!button.text" :icon="button.icon"
                 :label="button.text || undefined" :aria-label="button.label" :disable="!!button.disabled"
                 @click="$emit('act', button.name)" />
        </template>
      </div>
    </div>`,
  props: {
    role: String,
    text: { type: String, default: "" },
    waiting: Boolean,
    notice: { type: String, default: "" },
    tone: { type: String, default: "" },
    alert: { type: String, default: "" },
    stats: { type: String, default: "" },
    buttons: { type: Array, default: () => [] },
    editing: Boolean,
  },
  computed: {
    mine() {
      return this.role === "user";
    },
  },
};
