// A message's toolbar (versions, Copy, Continue, Regenerate / Retry, Edit) as one element: the server sends the list
// of buttons, each press comes back as one "act" event with the button's name (components/message_toolbar.py).
export default {
  template: `
    <div class="nc-actions row items-center no-wrap" role="toolbar" aria-label="Message actions">
      <template v-for="button in buttons" :key="button.name">
        <span v-if="button.name === 'version'" class="text-xs text-gray-600">{{ button.text }}</span>
        <q-btn v-else flat dense no-caps size="sm" :round="!button.text" :icon="button.icon"
               :label="button.text || undefined" :aria-label="button.label" :disable="!!button.disabled"
               @click="$emit('act', button.name)" />
      </template>
    </div>`,
  props: {
    buttons: { type: Array, default: () => [] },
  },
};
